"""The connectors' CRM and HRIS ports against the running sandbox CRM and HRIS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tandem_connectors import MIGRATIONS as CONNECTOR_MIGRATIONS
from tandem_connectors import NotFound, RequestRejected
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.polling import Change, Poller
from tandem_connectors.ports import CrmOpportunity, HrisWorker
from tandem_connectors.rest import RestCrm, RestHris
from tandem_contracts import Money
from tandem_sandbox import Sandbox
from tandem_service_kit import apply_migrations

FAST = RetryPolicy(attempts=3, first_wait=0.05, max_wait=2.0)
TODAY = datetime.now(UTC).date()


@pytest.fixture
async def crm(sandbox: Sandbox) -> AsyncIterator[RestCrm]:
    target = HttpTarget(sandbox.urls["crm"], downstream="crm:sandbox", retry=FAST)
    adapter = RestCrm(target, instance="sandbox")
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def hris(sandbox: Sandbox) -> AsyncIterator[RestHris]:
    target = HttpTarget(sandbox.urls["hris"], downstream="hris:sandbox", retry=FAST)
    adapter = RestHris(target, instance="sandbox")
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await apply_migrations(database_url, [CONNECTOR_MIGRATIONS])
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as opened:
        yield opened


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(path, json=body)
    assert answer.status_code in (200, 201), answer.text
    record: dict[str, Any] = answer.json()
    return record


def deal(account: str, name: str) -> dict[str, Any]:
    return {
        "account_id": account,
        "name": name,
        "stage": "Negotiation",
        "amount": "250000.10",
        "currency": "USD",
        "close_date": "2026-06-30",
        "expected_start": "2026-07-15",
        "selling_entity": "le-us",
        "lines": [
            {
                "role": "Senior Consultant",
                "minutes": 48000,
                "rate": "150.00",
                "amount": "120000.00",
            },
            {"role": "Architect", "minutes": 39000, "rate": "200.05", "amount": "130032.50"},
        ],
    }


async def test_crm_port_reads_polls_and_writes_the_project_code_back_onto_a_won_deal(
    sandbox: Sandbox, crm: RestCrm, pool: asyncpg.Pool
) -> None:
    # Sales creates an account and two deals in the CRM.
    async with httpx.AsyncClient(base_url=sandbox.urls["crm"]) as client:
        initech = {"name": "Initech", "country": "US", "currency": "USD"}
        account = await post(client, "/v1/accounts", initech)
        won = await post(client, "/v1/opportunities", deal(account["id"], "Data platform"))
        still_open = await post(client, "/v1/opportunities", deal(account["id"], "Cloud move"))

    # The port reads them back in the CRM's ids, money exact from the decimal strings.
    read = await crm.account(account["id"])
    assert (read.name, read.country, read.currency) == ("Initech", "US", "USD")
    assert read.erp_customer_id is None
    opportunity = await crm.opportunity(won["id"])
    assert opportunity.account_id == account["id"]
    assert (opportunity.stage, opportunity.probability) == ("Negotiation", 75)
    assert opportunity.amount == Money.of("250000.10", "USD")
    amounts = [line.amount for line in opportunity.lines]
    assert amounts == [Money.of("120000.00", "USD"), Money.of("130032.50", "USD")]
    assert opportunity.expected_start == date(2026, 7, 15)
    assert opportunity.erp_project_code is None

    # Polling the opportunities feed lands both deals, each once.
    seen: list[CrmOpportunity] = []

    async def keep(_db: Any, page: Sequence[Change]) -> None:
        seen.extend([await crm.read_opportunity(change.data) for change in page])

    def poller(feed: str) -> Poller:
        source = crm.change_source(feed)
        return Poller(pool, source, "crm", "sandbox", feed, page_size=1, lag=timedelta(0))

    assert await poller("opportunities").catch_up(keep) == 2
    assert sorted(o.external_id for o in seen) == sorted([won["id"], still_open["id"]])
    accounts: list[str] = []

    async def keep_accounts(_db: Any, page: Sequence[Change]) -> None:
        accounts.extend([(await crm.read_account(change.data)).name for change in page])

    assert await poller("accounts").catch_up(keep_accounts) == 1
    assert accounts == ["Initech"]

    # The open deal refuses the project code, typed; the deal once won takes it, once.
    with pytest.raises(RequestRejected) as refused:
        await crm.link_project(still_open["id"], project_code="PRJ-00007", key="opp:link:1")
    assert refused.value.reason == "opportunity_not_won"
    async with httpx.AsyncClient(base_url=sandbox.urls["crm"]) as client:
        answer = await client.patch(f"/v1/opportunities/{won['id']}", json={"stage": "Closed Won"})
        assert answer.status_code == 200, answer.text
    linked = await crm.link_project(won["id"], project_code="PRJ-00007", key="opp:link:0")
    again = await crm.link_project(won["id"], project_code="PRJ-00007", key="opp:link:0")
    assert (linked.external_id, linked.code, linked.created) == (won["id"], "PRJ-00007", False)
    assert again.ref.external_version == linked.ref.external_version  # no second write
    with pytest.raises(RequestRejected) as relinked:
        await crm.link_project(won["id"], project_code="PRJ-00008", key="opp:link:2")
    assert relinked.value.reason == "opportunity_linked"
    record = await crm.record("opportunities", won["id"])
    assert (record["stage"], record["erp_project_code"]) == ("Closed Won", "PRJ-00007")

    # The feed resumes after its watermark: only the won deal changed since.
    seen.clear()
    assert await poller("opportunities").catch_up(keep) == 1
    [changed] = seen
    assert changed.external_id == won["id"]
    assert (changed.stage, changed.probability) == ("Closed Won", 100)
    assert changed.erp_project_code == "PRJ-00007"
    assert changed.version == int(linked.ref.external_version or 0)
    with pytest.raises(NotFound):
        await crm.opportunity("opp_missing")


async def test_an_accounts_vies_date_holds_for_its_number_and_clears_when_it_changes(
    sandbox: Sandbox, crm: RestCrm
) -> None:
    checked = datetime(2026, 9, 14, 10, 30, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=sandbox.urls["crm"]) as client:
        # Sales records a French customer whose VAT id the CRM's VIES app confirmed.
        body = {"name": "Hexagone SA", "country": "FR", "currency": "EUR",
                "tax_id": "FR40303265045", "vat_validated_at": checked.isoformat()}  # fmt: skip
        account = await post(client, "/v1/accounts", body)
        url = f"/v1/accounts/{account['id']}"
        assert (await crm.account(account["id"])).tax_id_validated_at == checked

        # Writing the ERP customer back, or retyping the same number, keeps the check.
        await crm.link_customer(account["id"], erp_customer_id="cus_1", key="acc:link:1")
        retyped = await client.patch(url, json={"tax_id": "fr 40 303.265.045"})
        assert retyped.status_code == 200, retyped.text
        read = await crm.account(account["id"])
        assert (read.erp_customer_id, read.tax_id_validated_at) == ("cus_1", checked)

        # Another number without a new check is unvalidated; checked again, it is validated.
        renumbered = await client.patch(url, json={"tax_id": "FR83404833048"})
        assert renumbered.json()["vat_validated_at"] is None
        assert (await crm.account(account["id"])).tax_id_validated_at is None
        rechecked = checked + timedelta(days=30)
        again = await client.patch(url, json={"vat_validated_at": rechecked.isoformat()})
        assert again.status_code == 200, again.text
        assert (await crm.account(account["id"])).tax_id_validated_at == rechecked
        both = {"tax_id": "FR40303265045", "vat_validated_at": checked.isoformat()}
        assert (await client.patch(url, json=both)).json()["tax_id"] == "FR40303265045"
        assert (await crm.account(account["id"])).tax_id_validated_at == checked

        # A time without its offset names no instant: refused.
        naive = await client.patch(url, json={"vat_validated_at": "2026-10-01T10:00:00"})
        assert naive.status_code == 422
        events = (await client.get("/v1/events")).json()["events"]
    updates = [e["data"] for e in events if e["type"] == "account.updated"]
    assert [u["vat_validated_at"] is None for u in updates] == [False, False, True, False, False]


def hire(email: str, hire_date: date, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": email,
        "company": "le-us",
        "hire_date": hire_date.isoformat(),
        "location_country": "US",
        "home_currency": "USD",
        **extra,
    }


async def test_hris_port_reads_hires_terminations_and_dated_cost_rates(
    sandbox: Sandbox, hris: RestHris, pool: asyncpg.Pool
) -> None:
    # HR hires one worker (with a first cost rate) and a second who starts next month.
    first_rate = {"amount": "80.00", "currency": "USD", "effective_from": "2024-01-01"}
    async with httpx.AsyncClient(base_url=sandbox.urls["hris"]) as client:
        body = hire("grace@example.com", date(2024, 1, 1), org_unit="ou-data", cost_rate=first_rate)
        grace = await post(client, "/v1/hires", body)
        starts = TODAY + timedelta(days=30)
        body = hire(
            "alan@example.com", starts, manager_id=grace["id"], employment_type="contractor"
        )
        later = await post(client, "/v1/hires", body)

    # Polling the workers feed lands both hires, without names.
    seen: list[HrisWorker] = []

    async def keep(_db: Any, page: Sequence[Change]) -> None:
        seen.extend([await hris.read_worker(change.data) for change in page])

    def poller() -> Poller:
        source = hris.change_source("workers")
        return Poller(pool, source, "hris", "sandbox", "workers", page_size=10, lag=timedelta(0))

    assert await poller().catch_up(keep) == 2
    by_id = {worker.external_id: worker for worker in seen}
    assert (by_id[grace["id"]].worker_number, by_id[grace["id"]].status) == ("W000001", "active")
    hired = by_id[later["id"]]
    assert (hired.status, hired.employment_type) == ("pre_hire", "contractor")
    assert (hired.manager_id, hired.hire_date) == (grace["id"], starts)
    assert "Hopper" not in repr(seen)
    assert "grace@example.com" not in repr(seen)  # personal data stays out of logs

    # A raise from January and a termination in June, both through the HRIS's own API.
    async with httpx.AsyncClient(base_url=sandbox.urls["hris"]) as client:
        raise_ = {"amount": "90.50", "currency": "USD", "effective_from": "2025-01-01"}
        await post(client, f"/v1/workers/{grace['id']}/cost-rates", raise_)
        ended = {"termination_date": "2025-06-30"}
        await post(client, f"/v1/workers/{grace['id']}/terminations", ended)
        events = (await client.get("/v1/events", params={"limit": 100})).json()["events"]

    # The port reads the worker as terminated and the rates dated, oldest first.
    worker = await hris.worker(grace["id"])
    assert (worker.status, worker.termination_date) == ("terminated", date(2025, 6, 30))
    assert (worker.legal_entity, worker.org_unit, worker.work_country) == ("le-us", "ou-data", "US")
    assert (worker.home_currency, worker.email) == ("USD", "grace@example.com")
    rates = await hris.cost_rates(grace["id"])
    assert [(r.hourly_cost, r.effective_from, r.effective_to) for r in rates] == [
        (Money.of("80", "USD"), date(2024, 1, 1), date(2024, 12, 31)),
        (Money.of("90.50", "USD"), date(2025, 1, 1), None),
    ]
    assert await hris.cost_rates(later["id"]) == []
    # A cost_rate.changed event carries the new rate in the HRIS's shape.
    changed = [e["data"] for e in events if e["type"] == "cost_rate.changed"]
    from_events = [await hris.read_cost_rate(data) for data in changed]
    assert [(r.hourly_cost, r.effective_from, r.effective_to) for r in from_events] == [
        (Money.of("80", "USD"), date(2024, 1, 1), None),  # open-ended when it was added
        (Money.of("90.50", "USD"), date(2025, 1, 1), None),
    ]
    assert [r.external_id for r in from_events] == [r.external_id for r in rates]
    assert {r.worker_id for r in from_events} == {grace["id"]}

    # The feed resumes after its watermark: the termination changed one worker.
    seen.clear()
    assert await poller().catch_up(keep) == 1
    assert [(w.external_id, w.status) for w in seen] == [(grace["id"], "terminated")]
    with pytest.raises(NotFound):
        await hris.worker("wrk_missing")
    with pytest.raises(NotFound):
        await hris.cost_rates("wrk_missing")
