"""CRM and HRIS records, as the sandbox systems send them, read into the ports' dataclasses."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tandem_connectors import NotFound, RequestRejected, UnexpectedResponse
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import CrmOpportunityLine
from tandem_connectors.rest import RestCrm, RestHris
from tandem_connectors.rest._crm import crm_account, crm_opportunity
from tandem_connectors.rest._hris import hris_cost_rate, hris_worker
from tandem_contracts import Money

# What the sandbox CRM answers for POST /v1/accounts then GET (AccountCreate + the store's fields).
ACCOUNT: dict[str, Any] = {
    "id": "acc_1",
    "name": "Initech",
    "country": "US",
    "currency": "USD",
    "billing_address": "1 Main St, Austin",
    "industry": "Software",
    "version": 2,
    "external_id": "cust-1",
    "created_at": "2026-03-01T09:00:00+00:00",
    "updated_at": "2026-03-02T10:15:00.250000+00:00",
    "erp_customer_id": "cus_9",
}

OPPORTUNITY: dict[str, Any] = {
    "id": "opp_1",
    "account_id": "acc_1",
    "name": "Data platform",
    "stage": "Closed Won",
    "amount": "250000.10",
    "currency": "USD",
    "close_date": "2026-06-30",
    "probability": 100,
    "expected_start": "2026-07-15",
    "selling_entity": "le-us",
    "owner": "usr_7",
    "lines": [
        {"role": "Senior Consultant", "minutes": 48000, "rate": "150.00", "amount": "120000.00"},
        {"role": "Architect", "minutes": 39000, "rate": "200.05", "amount": "130032.50"},
    ],
    "erp_project_code": "PRJ-00042",
    "version": 3,
    "created_at": "2026-03-01T09:00:00+00:00",
    "updated_at": "2026-06-30T16:00:00+00:00",
}

# A seeded opportunity: no lines, owner, expected start or code keys at all.
SEEDED_OPPORTUNITY: dict[str, Any] = {
    key: OPPORTUNITY[key]
    for key in ("id", "account_id", "name", "amount", "currency", "close_date", "version")
} | {"stage": "Proposal", "probability": 50, "updated_at": "2026-03-01T09:00:00Z"}

# What the sandbox HRIS answers for a worker made by POST /v1/hires.
WORKER: dict[str, Any] = {
    "id": "wrk_1",
    "first_name": "Grace",
    "last_name": "Hopper",
    "email": "grace@example.com",
    "company": "le-us",
    "employment_type": "contractor",
    "hire_date": "2024-01-01",
    "job_title": "Engineer",
    "org_unit": "ou-data",
    "manager_id": "wrk_0",
    "location_country": "US",
    "home_currency": "USD",
    "worker_number": "W000001",
    "status": "terminated",
    "termination_date": "2025-06-30",
    "termination_reason": "resignation",
    "version": 3,
    "created_at": "2024-01-01T08:00:00+00:00",
    "updated_at": "2025-06-30T17:00:00+00:00",
}

COST_RATE: dict[str, Any] = {
    "id": "crt_1",
    "amount": "80.5",
    "currency": "USD",
    "effective_from": "2024-01-01",
    "worker_id": "wrk_1",
    "effective_to": "2024-12-31",
    "version": 2,
    "created_at": "2024-01-01T08:00:00+00:00",
    "updated_at": "2025-01-01T08:00:00+00:00",
}


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def test_an_account_reads_with_its_optional_fields_or_without_them() -> None:
    account = crm_account(ACCOUNT)
    assert (account.external_id, account.version, account.name) == ("acc_1", 2, "Initech")
    assert (account.country, account.currency) == ("US", "USD")
    assert (account.billing_address, account.industry) == ("1 Main St, Austin", "Software")
    assert account.erp_customer_id == "cus_9"
    assert account.updated_at == datetime(2026, 3, 2, 10, 15, 0, 250000, tzinfo=UTC)
    required = {k: ACCOUNT[k] for k in ("id", "name", "country", "currency", "version")}
    seeded = crm_account(required | {"updated_at": "2026-03-01T09:00:00+00:00"})
    assert (seeded.billing_address, seeded.industry, seeded.erp_customer_id) == (None, None, None)


def test_an_accounts_vies_date_reads_as_an_aware_instant_or_none() -> None:
    """The CRM's VIES app records when it confirmed the account's VAT id (``vat_validated_at``)."""
    checked = ACCOUNT | {"tax_id": "FR40303265045", "vat_validated_at": "2026-09-14T12:30:00+02:00"}
    account = crm_account(checked)
    assert account.tax_id == "FR40303265045"
    assert account.tax_id_validated_at == datetime(2026, 9, 14, 10, 30, tzinfo=UTC)
    assert crm_account(checked | {"vat_validated_at": "2026-09-14T10:30:00Z"}).tax_id_validated_at
    assert crm_account(ACCOUNT).tax_id_validated_at is None  # never checked: no field
    assert crm_account(checked | {"vat_validated_at": None}).tax_id_validated_at is None


@pytest.mark.parametrize("broken", ["2026-09-14T10:30:00", "14/09/2026", 1789381800])
def test_an_unreadable_vies_date_is_an_unexpected_response(broken: Any) -> None:
    """A time without its offset names no instant: not read as one, nor as unchecked."""
    with pytest.raises(UnexpectedResponse, match="acc_1"):
        crm_account(ACCOUNT | {"vat_validated_at": broken})


def test_an_opportunity_reads_money_from_decimal_strings_in_its_currency() -> None:
    deal = crm_opportunity(OPPORTUNITY)
    assert (deal.external_id, deal.version, deal.account_id) == ("opp_1", 3, "acc_1")
    assert (deal.stage, deal.probability) == ("Closed Won", 100)
    assert deal.amount == Money(amount=Decimal("250000.10"), currency="USD")
    assert deal.amount.amount.as_tuple() == Decimal("250000.10").as_tuple()
    assert (deal.close_date, deal.expected_start) == (date(2026, 6, 30), date(2026, 7, 15))
    assert (deal.selling_entity, deal.owner) == ("le-us", "usr_7")
    assert deal.erp_project_code == "PRJ-00042"
    assert deal.lines == (
        CrmOpportunityLine("Senior Consultant", 48000, usd("150"), usd("120000")),
        CrmOpportunityLine("Architect", 39000, usd("200.05"), usd("130032.50")),
    )
    assert deal.updated_at == datetime(2026, 6, 30, 16, tzinfo=UTC)


def test_a_seeded_opportunity_without_optional_fields_reads_as_none_and_empty() -> None:
    deal = crm_opportunity(SEEDED_OPPORTUNITY)
    assert (deal.expected_start, deal.selling_entity, deal.owner) == (None, None, None)
    assert (deal.lines, deal.erp_project_code) == ((), None)
    nulls = crm_opportunity(OPPORTUNITY | {"expected_start": None, "lines": None})
    assert (nulls.expected_start, nulls.lines) == (None, ())
    assert deal.delivery_units == ()


def test_an_opportunitys_delivery_units_are_read_in_order() -> None:
    deal = crm_opportunity(OPPORTUNITY | {"delivery_units": ["ou-data", "ou-emea"]})
    assert deal.delivery_units == ("ou-data", "ou-emea")
    assert deal.updated_at.tzinfo is not None


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in OPPORTUNITY.items() if k != "close_date"},
        OPPORTUNITY | {"amount": 250000.1},  # a JSON number: the cents are not trustworthy
        OPPORTUNITY | {"amount": "a lot"},
        OPPORTUNITY | {"currency": "XXX1"},
        OPPORTUNITY | {"close_date": "30/06/2026"},
    ],
)
def test_an_unreadable_opportunity_is_an_unexpected_response(broken: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedResponse, match="opp_1"):
        crm_opportunity(broken)


def test_a_worker_reads_without_names_and_keeps_the_email_out_of_its_repr() -> None:
    worker = hris_worker(WORKER)
    assert (worker.external_id, worker.version, worker.worker_number) == ("wrk_1", 3, "W000001")
    assert worker.legal_entity == "le-us"
    assert (worker.employment_type, worker.status) == ("contractor", "terminated")
    assert (worker.hire_date, worker.termination_date) == (date(2024, 1, 1), date(2025, 6, 30))
    assert (worker.manager_id, worker.org_unit, worker.work_calendar) == ("wrk_0", "ou-data", None)
    assert (worker.work_country, worker.home_currency) == ("US", "USD")
    assert worker.email == "grace@example.com"
    assert worker.updated_at == datetime(2025, 6, 30, 17, tzinfo=UTC)
    shown = repr(worker)
    assert "Grace" not in shown
    assert "Hopper" not in shown
    assert "grace@example.com" not in shown


def test_a_hire_without_optional_fields_reads_as_none() -> None:
    bare = {k: v for k, v in WORKER.items() if k not in {"manager_id", "org_unit", "email"}}
    worker = hris_worker(bare | {"termination_date": None, "status": "pre_hire"})
    assert (worker.manager_id, worker.org_unit, worker.email) == (None, None, None)
    assert (worker.termination_date, worker.status) == (None, "pre_hire")


def test_an_unreadable_worker_names_the_record_but_no_value_of_it() -> None:
    with pytest.raises(UnexpectedResponse, match="wrk_1") as missing:
        hris_worker({k: v for k, v in WORKER.items() if k != "hire_date"})
    assert "hire_date" in str(missing.value)
    with pytest.raises(UnexpectedResponse) as bad:
        hris_worker(WORKER | {"hire_date": "grace@example.com"})
    assert "grace" not in str(bad.value)


def test_a_cost_rate_reads_as_dated_money() -> None:
    rate = hris_cost_rate(COST_RATE)
    assert (rate.external_id, rate.worker_id, rate.version) == ("crt_1", "wrk_1", 2)
    assert rate.hourly_cost == Money.of("80.50", "USD")
    assert (rate.effective_from, rate.effective_to) == (date(2024, 1, 1), date(2024, 12, 31))
    assert hris_cost_rate(COST_RATE | {"effective_to": None}).effective_to is None
    with pytest.raises(UnexpectedResponse):
        hris_cost_rate(COST_RATE | {"amount": 80.5})


class FakeCrm:
    """Answers the sandbox CRM's opportunity routes; records the writes."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.patches: list[tuple[dict[str, Any], str | None]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != f"/v1/opportunities/{self.record['id']}":
            return httpx.Response(404, json={"code": "NOT_FOUND", "message": request.url.path})
        if request.method == "PATCH":
            body = json.loads(request.content)
            self.patches.append((body, request.headers.get("Idempotency-Key")))
            if self.record["stage"] != "Closed Won":
                return httpx.Response(409, json={"code": "OPPORTUNITY_NOT_WON", "detail": "open"})
            self.record = self.record | body | {"version": 4}
        return httpx.Response(200, json=self.record)


def target(handler: Any, name: str) -> HttpTarget:
    return HttpTarget(
        f"http://{name}.test",
        downstream=f"{name}:test",
        retry=RetryPolicy(attempts=1, first_wait=0.01, max_wait=0.01),
        transport=httpx.MockTransport(handler),
    )


async def test_link_project_writes_once_with_its_key_and_never_over_another_code() -> None:
    fake = FakeCrm(OPPORTUNITY | {"erp_project_code": None})
    crm = RestCrm(target(fake.handle, "crm"), instance="crm-eu")
    try:
        first = await crm.link_project("opp_1", project_code="PRJ-00042", key="k-1")
        again = await crm.link_project("opp_1", project_code="PRJ-00042", key="k-1")
        with pytest.raises(RequestRejected) as other:
            await crm.link_project("opp_1", project_code="PRJ-00043", key="k-2")
        with pytest.raises(NotFound):
            await crm.link_project("opp_x", project_code="PRJ-00042", key="k-3")
    finally:
        await crm.aclose()
    assert fake.patches == [({"erp_project_code": "PRJ-00042"}, "k-1")]
    assert (first.external_id, first.code, first.created) == ("opp_1", "PRJ-00042", False)
    ref = first.ref
    assert (ref.system, ref.instance, ref.object_type) == ("crm", "crm-eu", "opportunity")
    assert (first.ref.external_version, again.ref.external_version) == ("4", "4")
    assert other.value.reason == "opportunity_linked"


async def test_link_project_on_an_open_opportunity_is_rejected_as_not_won() -> None:
    fake = FakeCrm(OPPORTUNITY | {"stage": "Negotiation", "erp_project_code": None})
    crm = RestCrm(target(fake.handle, "crm"), instance="crm-eu")
    try:
        with pytest.raises(RequestRejected) as refused:
            await crm.link_project("opp_1", project_code="PRJ-00042", key="k-1")
    finally:
        await crm.aclose()
    assert refused.value.reason == "opportunity_not_won"
    assert len(fake.patches) == 1


async def test_the_adapters_read_records_and_refuse_unknown_feeds() -> None:
    def hris_answer(request: httpx.Request) -> httpx.Response:
        later = COST_RATE | {"id": "crt_2", "effective_from": "2025-01-01", "effective_to": None}
        if request.url.path == "/v1/workers/wrk_1/cost-rates":
            return httpx.Response(200, json={"items": [later, COST_RATE], "next_page_token": None})
        return httpx.Response(200, json=WORKER)

    hris = RestHris(target(hris_answer, "hris"), instance="hris")
    crm = RestCrm(target(FakeCrm(OPPORTUNITY).handle, "crm"), instance="crm")
    try:
        assert (await hris.worker("wrk_1")).worker_number == "W000001"
        assert [r.external_id for r in await hris.cost_rates("wrk_1")] == ["crt_1", "crt_2"]
        assert (await hris.read_worker(WORKER)).external_id == "wrk_1"
        assert (await crm.read_opportunity(OPPORTUNITY)).erp_project_code == "PRJ-00042"
        assert (await crm.read_account(ACCOUNT)).external_id == "acc_1"
        hris.change_source("cost-rates")  # polled, as the workers are
        with pytest.raises(ValueError, match="no feed"):
            hris.change_source("compensation")
        with pytest.raises(ValueError, match="no feed"):
            await crm.record("contacts", "c-1")
    finally:
        await hris.aclose()
        await crm.aclose()
