"""Events about customers and opportunities: CRM accounts and stages, and their ERP customers."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from tandem_contracts._event import Context, Event
from tandem_contracts._money import Money
from tandem_contracts._refs import ExternalRef, SystemKind
from tandem_contracts._types import CanonicalId, UtcDatetime
from tandem_contracts.entities import Customer, Opportunity, OpportunityStatus

__all__ = [
    "AccountUpserted",
    "CustomerLinked",
    "CustomerMatch",
    "OpportunityCommitted",
    "OpportunityLost",
    "OpportunityReopened",
    "OpportunityStageChanged",
]


class _CrmEvent(Event):
    context: ClassVar[Context] = Context.CRM
    system_of_record: ClassVar[SystemKind | None] = SystemKind.CRM
    producers: ClassVar[tuple[str, ...]] = ("project-sync",)
    subject_type: ClassVar[str] = "opportunity"


class AccountUpserted(_CrmEvent):
    """SoR: CRM. Trigger: an account is created or updated in the CRM (signed webhook or poll).

    project-sync finds its ERP customer (by key, then by tax id) or creates it, and links the
    two. ``customer.refs`` holds the account's CRM reference. Company data only: no contact
    persons or other personal data.
    """

    event_type: ClassVar[str] = "AccountUpserted"
    subject_type: ClassVar[str] = "customer"

    customer: Customer
    upserted_at: UtcDatetime

    @model_validator(mode="after")
    def _names_its_crm_account(self) -> Self:
        if not any(ref.system is SystemKind.CRM for ref in self.customer.refs):
            raise ValueError("customer.refs must hold the account's CRM reference")
        return self

    @property
    def subject_id(self) -> str:
        return self.customer.id


class CustomerMatch(StrEnum):
    """How project-sync found a CRM account's ERP customer."""

    KEY = "key"
    TAX_ID = "tax_id"
    CREATED = "created"


class CustomerLinked(_CrmEvent):
    """SoR: ERP (acknowledgement). Trigger: a CRM account's ERP customer was found (by its key or
    tax id) or created, and linked to the canonical customer: never a duplicate. ``created`` is
    true exactly when ``matched_by`` is ``created``. Parked work waiting for the customer resumes.
    """

    event_type: ClassVar[str] = "CustomerLinked"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP
    subject_type: ClassVar[str] = "customer"

    customer_id: CanonicalId
    erp_ref: ExternalRef
    crm_ref: ExternalRef | None = None
    created: bool
    matched_by: CustomerMatch
    linked_at: UtcDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.erp_ref.system is not SystemKind.ERP:
            raise ValueError("erp_ref must be a reference in the ERP")
        if self.crm_ref is not None and self.crm_ref.system is not SystemKind.CRM:
            raise ValueError("crm_ref must be a reference in the CRM")
        if self.created != (self.matched_by is CustomerMatch.CREATED):
            raise ValueError("created is true exactly when matched_by is 'created'")
        return self

    @property
    def subject_id(self) -> str:
        return self.customer_id


class OpportunityStageChanged(_CrmEvent):
    """SoR: CRM. Trigger: an opportunity moves to another stage. ``stage`` is the CRM's native
    name, ``status`` its canonical class under the tenant's stage mapping.

    staffing-sync raises soft demand from it; observability follows the pipeline.
    """

    event_type: ClassVar[str] = "OpportunityStageChanged"

    opportunity_id: CanonicalId
    stage: str = Field(min_length=1, max_length=80)
    previous_stage: str | None = Field(default=None, min_length=1, max_length=80)
    status: OpportunityStatus
    amount: Money
    probability_pct: int = Field(ge=0, le=100)
    changed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.opportunity_id


class OpportunityCommitted(_CrmEvent):
    """SoR: CRM. Trigger: an opportunity reaches Closed Won (or the tenant's committing stage).

    project-sync creates the project shell (ERP first, then PSA); staffing-sync opens demand.
    """

    event_type: ClassVar[str] = "OpportunityCommitted"

    opportunity: Opportunity
    committed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.opportunity.id


class OpportunityLost(_CrmEvent):
    """SoR: CRM. Trigger: an opportunity moves to a lost stage.

    project-sync cancels any project shell; staffing-sync releases soft holds.
    """

    event_type: ClassVar[str] = "OpportunityLost"

    opportunity_id: CanonicalId
    stage: str = Field(min_length=1, max_length=80)
    reason: str | None = Field(default=None, max_length=500)
    lost_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.opportunity_id


class OpportunityReopened(_CrmEvent):
    """SoR: CRM. Trigger: a committed (or lost) opportunity moves back to an open stage.

    project-sync compensates a committed one: a shell without time or charges is cancelled, a
    project with them is closed for time and flagged for finance; staffing-sync releases holds.
    """

    event_type: ClassVar[str] = "OpportunityReopened"

    opportunity_id: CanonicalId
    stage: str = Field(min_length=1, max_length=80)
    reason: str | None = Field(default=None, max_length=500)
    reopened_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.opportunity_id
