"""The CRM's record versions become events: classified against the newest version seen, in
order, stale and duplicate versions skipped, unmapped stages set aside (no database: the
ingestion's repositories in memory)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from project_sync.service_layer.ingest import CrmIngestion, canonical_id
from project_sync.service_layer.unit_of_work import CustomerRecord, OpportunityRecord
from project_sync.settings import Settings
from tandem_connectors.fakes import FakeCrm
from tandem_connectors.inbound import RecordRejected
from tandem_connectors.landing import Landed
from tandem_connectors.ports import CrmAccount, CrmOpportunity
from tandem_contracts import Money
from tandem_contracts.entities import Customer
from tandem_contracts.events import (
    AccountUpserted,
    OpportunityCommitted,
    OpportunityLost,
    OpportunityReopened,
    OpportunityStageChanged,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class RecordCrm(FakeCrm):
    """A CRM whose records carry the whole value (as the sandbox's webhooks and feeds do)."""

    async def read_opportunity(self, record: Mapping[str, Any]) -> CrmOpportunity:
        names = {field.name for field in dataclasses.fields(CrmOpportunity)}
        return CrmOpportunity(**{name: record[name] for name in names})

    async def read_account(self, record: Mapping[str, Any]) -> CrmAccount:
        names = {field.name for field in dataclasses.fields(CrmAccount)}
        return CrmAccount(**{name: record[name] for name in names})


class MemoryOpportunities:
    def __init__(self) -> None:
        self.rows: dict[str, OpportunityRecord] = {}

    async def get(self, opportunity_id: str) -> OpportunityRecord | None:
        return self.rows.get(opportunity_id)

    async def save(self, record: OpportunityRecord) -> None:
        self.rows[record.opportunity_id] = record


class MemoryCustomers:
    def __init__(self) -> None:
        self.rows: dict[str, CustomerRecord] = {}

    async def get(self, customer_id: str, *, lock: bool = True) -> CustomerRecord | None:
        return self.rows.get(customer_id)


class MemoryUow:
    def __init__(self) -> None:
        self.opportunities = MemoryOpportunities()
        self.customers = MemoryCustomers()


def deal(
    version: int,
    stage: str,
    selling_entity: str | None = "le-de",
    delivery_units: tuple[str, ...] = (),
) -> dict[str, Any]:
    value = CrmOpportunity(
        external_id="opp-9", version=version, account_id="acc-1", name="Roll-out",
        stage=stage, amount=Money.of("1000.00", "EUR"), close_date=date(2026, 12, 1),
        probability=50, expected_start=None, selling_entity=selling_entity, owner=None,
        lines=(), erp_project_code=None, updated_at=NOW, delivery_units=delivery_units,
    )  # fmt: skip
    return RecordCrm.record_of(value)


def landed(record: dict[str, Any], record_type: str = "opportunity") -> Landed:
    return Landed(1, "crm", "crm", record_type, record["id"], record["version"], "webhook", record)


@pytest.fixture
def ingestion() -> CrmIngestion:
    settings = Settings(
        entity_by_country={"DE": "le-de"}, default_legal_entity="le-us",
        entity_regions={"le-de": "eu"}, default_region="us",
    )  # fmt: skip
    return CrmIngestion(MemoryUow(), RecordCrm(), "crm", settings)  # type: ignore[arg-type]


async def kinds(ingestion: CrmIngestion, record: dict[str, Any]) -> list[str]:
    return [type(e.payload).__name__ for e in await ingestion.translate(landed(record))]


async def test_a_stage_change_is_classified_against_the_newest_version_seen(
    ingestion: CrmIngestion,
) -> None:
    assert await kinds(ingestion, deal(1, "Negotiation")) == ["OpportunityStageChanged"]
    [changed, won] = await ingestion.translate(landed(deal(3, "Closed Won")))
    assert isinstance(changed.payload, OpportunityStageChanged)
    assert changed.payload.previous_stage == "Negotiation"
    assert isinstance(won.payload, OpportunityCommitted)
    assert won.subject_version == 3
    assert won.payload.opportunity.id == canonical_id("crm", "opp-9") == "crm-opp-9"
    assert won.payload.opportunity.customer_id == "crm-acc-1"
    assert won.data_residency_region == "eu"
    # A duplicate, and a version older than the one classified, change nothing.
    assert await kinds(ingestion, deal(3, "Closed Won")) == []
    assert await kinds(ingestion, deal(2, "Proposal")) == []
    # Back to an open stage after commit is a reopening; lost after that is a loss.
    reopened = await kinds(ingestion, deal(4, "Proposal"))
    assert reopened == ["OpportunityStageChanged", "OpportunityReopened"]
    assert await kinds(ingestion, deal(5, "Closed Lost")) == [
        "OpportunityStageChanged",
        OpportunityLost.__name__,
    ]
    # Open again after a loss is no reopening of a commit.
    assert await kinds(ingestion, deal(6, "Prospecting")) == ["OpportunityStageChanged"]
    assert OpportunityReopened.__name__ in reopened


async def test_an_unmapped_stage_is_set_aside_with_its_reason(ingestion: CrmIngestion) -> None:
    with pytest.raises(RecordRejected, match="Verbal yes"):
        await ingestion.translate(landed(deal(1, "Verbal yes")))


async def test_a_won_deal_carries_its_delivery_units_to_the_project(
    ingestion: CrmIngestion,
) -> None:
    """The practice and region that deliver the deal: the project's org units, by which its
    time finds a practice's rate card (time-expense)."""
    units = ("ou-practice-data", "ou-region-emea", "ou-practice-data")
    [_, won] = await ingestion.translate(landed(deal(1, "Closed Won", delivery_units=units)))
    assert isinstance(won.payload, OpportunityCommitted)
    assert won.payload.opportunity.org_unit_ids == ("ou-practice-data", "ou-region-emea")


async def test_a_delivery_unit_that_is_no_id_is_set_aside_with_its_reason(
    ingestion: CrmIngestion,
) -> None:
    with pytest.raises(RecordRejected, match="not an org unit id"):
        await ingestion.translate(landed(deal(1, "Closed Won", delivery_units=("Data & AI",))))


async def test_an_account_sells_from_its_countrys_entity(ingestion: CrmIngestion) -> None:
    def account(country: str) -> dict[str, Any]:
        value = CrmAccount(
            external_id=f"acc-{country}", version=2, name="Globex", country=country,
            currency="EUR", billing_address=None, industry=None, erp_customer_id=None,
            updated_at=NOW, tax_id="DE811907980",
        )  # fmt: skip
        return RecordCrm.record_of(value)

    [german] = await ingestion.translate(landed(account("DE"), "account"))
    [french] = await ingestion.translate(landed(account("FR"), "account"))

    assert isinstance(german.payload, AccountUpserted)
    assert isinstance(french.payload, AccountUpserted)
    assert german.payload.customer.legal_entity_id == "le-de"
    assert german.payload.customer.tax_profile.vat_id == "DE811907980"
    assert french.payload.customer.legal_entity_id == "le-us"  # the default entity
    assert german.subject_version == 2
    assert ingestion.order_key(landed(account("DE"), "account")) == "acc-DE"
    assert ingestion.order_key(landed(deal(1, "Proposal"))) == "acc-1"


async def test_an_opportunity_without_a_selling_entity_sells_from_its_customers(
    ingestion: CrmIngestion,
) -> None:
    [_, won] = await ingestion.translate(landed(deal(1, "Closed Won", selling_entity=None)))

    assert isinstance(won.payload, OpportunityCommitted)
    assert won.payload.opportunity.selling_legal_entity_id == "le-us"  # customer unknown yet


CHECKED = datetime(2026, 9, 14, 10, 30, tzinfo=UTC)


def french(version: int, tax_id: str | None, validated_at: datetime | None) -> dict[str, Any]:
    value = CrmAccount(
        external_id="acc-fr", version=version, name="Hexagone SA", country="FR",
        currency="EUR", billing_address=None, industry=None, erp_customer_id=None,
        updated_at=NOW, tax_id=tax_id, tax_id_validated_at=validated_at,
    )  # fmt: skip
    return RecordCrm.record_of(value)


async def customer_of(ingestion: CrmIngestion, record: dict[str, Any]) -> Customer:
    """The customer the account version becomes, kept as the AccountUpserted handler keeps it."""
    [upserted] = await ingestion.translate(landed(record, "account"))
    assert isinstance(upserted.payload, AccountUpserted)
    customer = upserted.payload.customer
    kept = CustomerRecord(customer, "crm", record["id"], record["version"])
    ingestion.uow.customers.rows[customer.id] = kept  # type: ignore[attr-defined]
    return customer


async def test_an_account_checked_in_vies_becomes_a_validated_customer(
    ingestion: CrmIngestion,
) -> None:
    """The reverse charge needs the VAT id confirmed in VIES: the CRM's date is carried."""
    customer = await customer_of(ingestion, french(1, "FR40303265045", CHECKED))
    assert customer.tax_profile.vat_id == "FR40303265045"
    assert customer.tax_profile.vat_id_validated_at == CHECKED
    never_checked = await customer_of(ingestion, french(2, "FR40303265045", None))
    assert never_checked.tax_profile.vat_id_validated_at is None
    number_gone = await customer_of(ingestion, french(3, None, CHECKED))
    assert number_gone.tax_profile.vat_id_validated_at is None


async def test_an_account_whose_number_changed_is_validated_only_by_a_new_check(
    ingestion: CrmIngestion,
) -> None:
    await customer_of(ingestion, french(1, "FR40303265045", CHECKED))
    # A CRM that kept the old number's date: no validation of the new number.
    kept_date = await customer_of(ingestion, french(2, "FR83404833048", CHECKED))
    assert kept_date.tax_profile.vat_id == "FR83404833048"
    assert kept_date.tax_profile.vat_id_validated_at is None
    # The CRM cleared it, as the port says it does: none either.
    cleared = await customer_of(ingestion, french(3, "FR83404833048", None))
    assert cleared.tax_profile.vat_id_validated_at is None
    # Checked in VIES after the change: validated.
    rechecked = CHECKED + timedelta(days=2)
    validated = await customer_of(ingestion, french(4, "FR83404833048", rechecked))
    assert validated.tax_profile.vat_id_validated_at == rechecked
