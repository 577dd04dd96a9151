"""Commercial and project structure (DOMAIN.md §2.3)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from tandem_contracts._money import CurrencyCode, DecimalString, Money
from tandem_contracts._refs import ExternalRef
from tandem_contracts._types import CalendarDate, CanonicalId, CanonicalModel, Minutes, Version

__all__ = [
    "BillingModel",
    "Budget",
    "Contract",
    "ContractStatus",
    "Milestone",
    "MilestoneStatus",
    "MilestoneTrigger",
    "Opportunity",
    "OpportunityLine",
    "OpportunityStatus",
    "Project",
    "ProjectFlags",
    "ProjectStatus",
    "RateCard",
    "RateCardScope",
    "RateCardStatus",
    "RateCardVersion",
    "RevenueMethod",
    "RoleRate",
    "WorkItem",
    "WorkItemStatus",
    "WorkItemType",
]


class OpportunityStatus(StrEnum):
    OPEN = "open"
    COMMITTED = "committed"
    LOST = "lost"
    REOPENED = "reopened"


class OpportunityLine(CanonicalModel):
    """A priced line of an opportunity: a role for some hours at a rate."""

    role_id: CanonicalId
    minutes: Minutes
    rate: Money
    amount: Money


class Opportunity(CanonicalModel):
    """A potential engagement; SoR: CRM (Salesforce-like). ``stage`` is the native stage name."""

    id: CanonicalId
    customer_id: CanonicalId
    selling_legal_entity_id: CanonicalId
    name: str = Field(min_length=1, max_length=200)
    stage: str = Field(min_length=1, max_length=80)
    status: OpportunityStatus
    amount: Money
    close_date: CalendarDate
    probability_pct: int = Field(ge=0, le=100)
    owner_id: CanonicalId | None = None
    expected_start: CalendarDate | None = None
    lines: tuple[OpportunityLine, ...] = ()
    org_unit_ids: tuple[CanonicalId, ...] = ()
    """The org units (practice, region) that will deliver it: its project's, and the scope
    its rate card is found by."""
    refs: tuple[ExternalRef, ...] = ()


class BillingModel(StrEnum):
    TIME_AND_MATERIALS = "time_and_materials"
    FIXED_FEE = "fixed_fee"
    MILESTONE = "milestone"
    RETAINER = "retainer"
    CAPPED_TM = "capped_tm"


class ContractStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    ACTIVE = "active"
    AMENDED = "amended"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Contract(CanonicalModel):
    """A contract or statement of work; SoR: ERP (or CLM)."""

    id: CanonicalId
    number: str | None = Field(default=None, max_length=60)
    customer_id: CanonicalId
    selling_legal_entity_id: CanonicalId
    opportunity_id: CanonicalId | None = None
    po_number: str | None = Field(default=None, max_length=60)
    billing_model: BillingModel
    total_value: Money
    cap: Money | None = None
    start_date: CalendarDate
    end_date: CalendarDate | None = None
    rate_card_id: CanonicalId | None = None
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    status: ContractStatus
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class ProjectStatus(StrEnum):
    SHELL = "shell"
    PLANNED = "planned"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class RevenueMethod(StrEnum):
    AS_BILLED = "as_billed"
    PERCENT_COMPLETE_HOURS = "percent_complete_hours"
    PERCENT_COMPLETE_COST = "percent_complete_cost"
    MILESTONE = "milestone"
    STRAIGHT_LINE = "straight_line"
    COMPLETED_CONTRACT = "completed_contract"


class ProjectFlags(CanonicalModel):
    """What a project accepts; time-expense checks these before posting."""

    billable: bool = True
    time_entry_open: bool = False
    expense_entry_open: bool = False
    require_time_approval: bool = True
    require_expense_approval: bool = True
    time_requires_assignment: bool = False


class Budget(CanonicalModel):
    """A project's planned effort, fee and cost."""

    minutes: Minutes | None = None
    amount: Money | None = None
    cost: Money | None = None


class Project(CanonicalModel):
    """A delivery project; the ERP owns the financial shell (and mints ``code``), the PSA delivery.

    ``currency`` is immutable once transactions exist.
    """

    id: CanonicalId
    code: str | None = Field(default=None, max_length=60)
    name: str = Field(min_length=1, max_length=200)
    customer_id: CanonicalId
    contract_id: CanonicalId | None = None
    opportunity_id: CanonicalId | None = None
    legal_entity_id: CanonicalId
    org_unit_ids: tuple[CanonicalId, ...] = ()
    project_manager_id: CanonicalId | None = None
    currency: CurrencyCode
    billing_model: BillingModel
    revenue_method: RevenueMethod = RevenueMethod.AS_BILLED
    budget: Budget = Budget()
    rate_card_id: CanonicalId | None = None
    start_date: CalendarDate | None = None
    end_date: CalendarDate | None = None
    flags: ProjectFlags = ProjectFlags()
    status: ProjectStatus
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class WorkItemType(StrEnum):
    PHASE = "phase"
    TASK = "task"
    MILESTONE = "milestone"
    DELIVERABLE = "deliverable"


class WorkItemStatus(StrEnum):
    NOT_STARTED = "not_started"
    STARTED = "started"
    NEEDS_INFO = "needs_info"
    COMPLETED = "completed"


class WorkItem(CanonicalModel):
    """A phase, task or deliverable of a project; SoR: PSA."""

    id: CanonicalId
    project_id: CanonicalId
    parent_id: CanonicalId | None = None
    type: WorkItemType
    name: str = Field(min_length=1, max_length=200)
    planned_minutes: Minutes | None = None
    start_date: CalendarDate | None = None
    due_date: CalendarDate | None = None
    percent_complete: int = Field(default=0, ge=0, le=100)
    billable: bool = True
    service_item_ref: str | None = Field(default=None, max_length=255)
    status: WorkItemStatus = WorkItemStatus.NOT_STARTED
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class MilestoneTrigger(StrEnum):
    ON_COMPLETION = "on_completion"
    ON_APPROVAL = "on_approval"
    ON_DATE = "on_date"


class MilestoneStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    APPROVED_FOR_BILLING = "approved_for_billing"
    BILLED = "billed"


class Milestone(CanonicalModel):
    """A billable milestone of a project; SoR: PSA."""

    id: CanonicalId
    project_id: CanonicalId
    work_item_id: CanonicalId | None = None
    name: str = Field(min_length=1, max_length=200)
    amount: Money
    billing_trigger: MilestoneTrigger
    planned_date: CalendarDate | None = None
    actual_date: CalendarDate | None = None
    status: MilestoneStatus
    refs: tuple[ExternalRef, ...] = ()


class RateCardScope(CanonicalModel):
    """Where a rate card applies; precedence is project > account > region > practice > group."""

    project_id: CanonicalId | None = None
    account_id: CanonicalId | None = None
    region_id: CanonicalId | None = None
    practice_id: CanonicalId | None = None
    group_id: CanonicalId | None = None


class RoleRate(CanonicalModel):
    """The bill (and optionally cost) rate of a role in one rate-card version."""

    role_id: CanonicalId
    bill_rate: Money
    cost_rate: Money | None = None


class RateCardVersion(CanonicalModel):
    """One effective-dated version of a rate card; ``default_rate`` applies to unlisted roles."""

    version: Version
    effective_from: CalendarDate
    effective_to: CalendarDate | None = None
    default_rate: Money | None = None
    role_rates: tuple[RoleRate, ...] = ()
    discount_pct: DecimalString = Field(default=Decimal(0), ge=0, le=100)


class RateCardStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


class RateCard(CanonicalModel):
    """A scoped, versioned, effective-dated price list of roles; SoR: PSA by default."""

    id: CanonicalId
    name: str = Field(min_length=1, max_length=200)
    currency: CurrencyCode
    scope: RateCardScope
    versions: tuple[RateCardVersion, ...] = Field(min_length=1)
    status: RateCardStatus
    refs: tuple[ExternalRef, ...] = ()
