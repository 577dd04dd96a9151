"""From the CRM's records to canonical events, in arrival order per account.

Webhooks (``POST /v1/inbound/crm/{instance}``) and the polled feeds ``accounts`` and
``opportunities`` both *land* each record version once; the kit's ingestion pass hands them,
in arrival order per account (an account before its opportunities), to ``CrmIngestion``:

* an **account** version becomes ``AccountUpserted``: the canonical customer, whose legal
  entity is the one selling in the account's country (``TANDEM_ENTITY_BY_COUNTRY``, else
  ``TANDEM_DEFAULT_LEGAL_ENTITY``), and whose tax profile carries the account's VAT id and
  the date the CRM confirmed it in VIES, while that date can be this number's
  (``domain.vies_validation``);
* an **opportunity** version becomes ``OpportunityStageChanged`` when its stage changed, and,
  by the change of its canonical status (``domain.stages``), ``OpportunityCommitted``,
  ``OpportunityLost`` or ``OpportunityReopened``. The subject version is the CRM record's
  version; a version not newer than the one last seen (a duplicate, a reordered delivery) is
  skipped, so the status is always classified against the newest one seen. A stage the
  tenant's map does not name is set aside with its reason (``RecordRejected``).

Canonical ids are the CRM's, prefixed with the instance (``crm-acc-…``), or a UUID derived
from both when that would not be a canonical id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from project_sync.domain import (
    StageChange,
    StageMap,
    UnknownStageError,
    classify,
    vies_validation,
)
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork, OpportunityRecord
from project_sync.settings import Settings
from tandem_connectors.inbound import Feed, Inbound, RecordRejected
from tandem_connectors.landing import Landed
from tandem_connectors.ports import AbstractCrm, CrmAccount, CrmOpportunity
from tandem_contracts import Envelope, ExternalRef, Producer, SystemKind
from tandem_contracts import Event as ContractEvent
from tandem_contracts.entities import Customer, Opportunity, OpportunityStatus, TaxProfile
from tandem_contracts.events import (
    AccountUpserted,
    OpportunityCommitted,
    OpportunityLost,
    OpportunityReopened,
    OpportunityStageChanged,
)

__all__ = ["CRM_INBOUND", "CrmIngestion", "canonical_id"]

CRM = SystemKind.CRM.value
CRM_INBOUND = Inbound(
    system=CRM,
    feeds=(Feed("accounts", "account"), Feed("opportunities", "opportunity")),
    webhook_subjects=frozenset({"account", "opportunity"}),
)
_SAFE = re.compile(r"^[A-Za-z0-9_\-:]{1,64}$")
_IDS = uuid.UUID("0b6f4a2e-8c1d-5f3a-9e27-4d5c6b7a8f90")


def _org_units(deal: CrmOpportunity) -> tuple[str, ...]:
    """The deal's delivery units: org unit ids shared with the ERP and the PSA (master data),
    so taken as they are; one that could not be an id is the record's fault, said so."""
    for unit in deal.delivery_units:
        if not _SAFE.fullmatch(unit):
            raise RecordRejected(f"delivery unit {unit[:80]!r} is not an org unit id")
    return tuple(dict.fromkeys(deal.delivery_units))


def canonical_id(instance: str, external_id: str) -> str:
    """The canonical id of a CRM record (stable: derived, never drawn)."""
    candidate = f"{instance}-{external_id}"
    if _SAFE.fullmatch(candidate):
        return candidate
    return str(uuid.uuid5(_IDS, f"{instance}\x1f{external_id}"))


@dataclass
class CrmIngestion:
    """One ingestion pass over one CRM instance's landed records (``Ingestion``)."""

    uow: AbstractUnitOfWork
    crm: AbstractCrm
    source: str
    settings: Settings

    def order_key(self, landed: Landed) -> str:
        """The account orders its own versions and its opportunities'."""
        if landed.record_type == "account":
            return landed.record_id
        return str(landed.record.get("account_id", landed.record_id))

    def acts_on(self, landed: Landed) -> bool:
        """Every version may be news (a changed account, a changed stage)."""
        return landed.record_type in CRM_INBOUND.webhook_subjects

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events a landed version becomes."""
        if landed.record_type == "account":
            account = await self.crm.read_account(landed.record)
            return [await self._account(account, landed)]
        opportunity = await self.crm.read_opportunity(landed.record)
        return await self._opportunity(opportunity, landed)

    async def _account(self, account: CrmAccount, landed: Landed) -> Envelope[Any]:
        country = account.country.upper()
        customer_id = canonical_id(self.source, account.external_id)
        customer = Customer(
            id=customer_id,
            name=account.name[:200],
            legal_entity_id=self.settings.legal_entity_of(country),
            country=country,
            currency=account.currency,
            tax_profile=await self._tax_profile(customer_id, country, account),
            billing_address=account.billing_address,
            refs=(self._ref("account", account.external_id),),
        )
        event = AccountUpserted(customer=customer, upserted_at=account.updated_at)
        return self._wrap(event, customer.legal_entity_id, customer.id, landed)

    async def _tax_profile(self, customer_id: str, country: str, account: CrmAccount) -> TaxProfile:
        known = await self.uow.customers.get(customer_id, lock=False)
        held = known.customer.tax_profile if known is not None else None
        validated_at = vies_validation(account.tax_id, account.tax_id_validated_at, held)
        return TaxProfile(country=country, vat_id=account.tax_id, vat_id_validated_at=validated_at)

    async def _opportunity(self, deal: CrmOpportunity, landed: Landed) -> list[Envelope[Any]]:
        try:
            status = StageMap(self.settings.stage_map).status_of(deal.stage)
        except UnknownStageError as unknown:
            raise RecordRejected(str(unknown)) from None
        opportunity_id = canonical_id(self.source, deal.external_id)
        previous = await self.uow.opportunities.get(opportunity_id)
        if previous is not None and previous.version >= landed.version:
            return []  # a duplicate or an older version than the one classified
        customer_id = canonical_id(self.source, deal.account_id)
        entity = deal.selling_entity or await self._entity_of(customer_id)
        record = OpportunityRecord(
            opportunity_id, self.source, deal.external_id, customer_id, entity, deal.stage,
            status, landed.version, {"name": deal.name, "amount": str(deal.amount.amount),
                                     "currency": deal.amount.currency},
        )  # fmt: skip
        await self.uow.opportunities.save(record)
        events: list[ContractEvent] = []
        if previous is None or previous.stage != deal.stage:
            events.append(
                OpportunityStageChanged(
                    opportunity_id=opportunity_id,
                    stage=deal.stage[:80],
                    previous_stage=previous.stage[:80] if previous else None,
                    status=status,
                    amount=deal.amount,
                    probability_pct=deal.probability,
                    changed_at=deal.updated_at,
                )
            )
        match classify(previous.status if previous else None, status):
            case StageChange.COMMIT:
                events.append(
                    OpportunityCommitted(
                        opportunity=self._canonical(
                            deal, opportunity_id, customer_id, entity, status
                        ),
                        committed_at=deal.updated_at,
                    )
                )
            case StageChange.LOSE:
                events.append(
                    OpportunityLost(
                        opportunity_id=opportunity_id,
                        stage=deal.stage[:80],
                        lost_at=deal.updated_at,
                    )
                )
            case StageChange.REOPEN:
                events.append(
                    OpportunityReopened(
                        opportunity_id=opportunity_id,
                        stage=deal.stage[:80],
                        reopened_at=deal.updated_at,
                    )
                )
            case StageChange.NONE:
                pass
        return [self._wrap(event, entity, opportunity_id, landed) for event in events]

    async def _entity_of(self, customer_id: str) -> str:
        known = await self.uow.customers.get(customer_id, lock=False)
        if known is not None:
            return known.customer.legal_entity_id
        return self.settings.default_legal_entity

    def _canonical(
        self,
        deal: CrmOpportunity,
        opportunity_id: str,
        customer_id: str,
        entity: str,
        status: OpportunityStatus,
    ) -> Opportunity:
        return Opportunity(
            id=opportunity_id,
            customer_id=customer_id,
            selling_legal_entity_id=entity,
            name=deal.name[:200],
            stage=deal.stage[:80],
            status=status,
            amount=deal.amount,
            close_date=deal.close_date,
            probability_pct=deal.probability,
            expected_start=deal.expected_start,
            org_unit_ids=_org_units(deal),
            refs=(self._ref("opportunity", deal.external_id),),
        )

    def _ref(self, object_type: str, external_id: str) -> ExternalRef:
        return ExternalRef(
            system=SystemKind.CRM, instance=self.source, object_type=object_type,
            external_id=external_id,
        )  # fmt: skip

    def _wrap(
        self, event: ContractEvent, entity: str, correlation_id: str, landed: Landed
    ) -> Envelope[Any]:
        key = (
            f"crm:{landed.instance}:{landed.record_type}:{landed.record_id}:v{landed.version}:"
            f"{type(event).event_type}"
        )
        return Envelope.new(
            event, producer=Producer(service="project-sync", system=SystemKind.CRM,
                                     instance=self.source),
            tenant_id=self.settings.tenant_id, legal_entity_id=entity,
            data_residency_region=self.settings.region_of(entity),
            correlation_id=correlation_id, subject_version=landed.version,
            idempotency_key=key,
        )  # fmt: skip
