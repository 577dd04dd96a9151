"""Request and response bodies of the process API (``/v1``)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from tandem_contracts import CurrencyCode, Money
from tandem_contracts.entities import BillingModel, TaxProfile

__all__ = [
    "ActionBody",
    "BillingCodeRead",
    "ContractApproved",
    "ContractBody",
    "CustomerRead",
    "ProblemRead",
    "QuoteToCashPage",
    "QuoteToCashRead",
    "SagaPage",
    "SagaSummary",
    "SetupBody",
    "StepRead",
    "Validation",
]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:]+$")]
Why = Annotated[
    str,
    # As the kit's audited reasons: at least one printable character that is not white space
    # (the schema's pattern is the rule, the validator only trims), so an audited action
    # never records a blank reason.
    Field(min_length=1, max_length=500, pattern=r"[^\s\x00-\x1f\x7f-\x9f]"),
    AfterValidator(str.strip),
]


def _bounded_money_schema() -> dict[str, Any]:
    """Money's schema, its amount's pattern bounded as ``Money`` bounds it: below 10^18."""
    schema = Money.model_json_schema()
    schema.pop("description", None)
    schema["properties"]["amount"] = {
        "type": "string",
        # At most 18 digits before the point (leading zeros aside): what Money accepts.
        "pattern": r"^-?0*\d{1,18}(\.\d+)?$",
        "examples": ["1000.00"],
    }
    return schema


BoundedMoney = Annotated[Money, WithJsonSchema(_bounded_money_schema())]
"""``Money`` with its schema saying how large an amount may be (the OpenAPI is the rule)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemRead(BaseModel):
    """One thing wrong, typed (``code``), with the field and what would clear it."""

    code: str
    field: str
    message: str
    key: str | None = None
    waits: bool = False


class StepRead(BaseModel):
    """A step the saga entered, when, and when it left it."""

    step: str
    entered_at: datetime
    left_at: datetime | None = None


class SystemIds(BaseModel):
    """A record in a system of record."""

    instance: str | None = None
    ref: str | None = None


class QuoteToCashRead(BaseModel):
    """One opportunity's quote-to-cash (one generation): where it is, what holds it, each
    step with when, and the records it made in each system."""

    opportunity_id: str
    generation: int
    project_id: str | None
    customer_id: str | None
    legal_entity_id: str | None
    step: str
    state: str
    since: datetime
    project_code: str | None
    erp: SystemIds
    psa: SystemIds
    crm: SystemIds
    waiting_for: str | None
    failure_reason: str | None
    failure_detail: str | None
    problems: list[ProblemRead]
    last_error: str | None
    attempts: int
    contract_id: str | None
    stuck_alerted: bool
    steps: list[StepRead]


class QuoteToCashPage(BaseModel):
    """The quote-to-cash records matching a filter, newest generation first."""

    items: list[QuoteToCashRead]


class SagaSummary(BaseModel):
    """A saga in a list: state, since when, and why it is held."""

    opportunity_id: str
    generation: int
    step: str
    state: str
    since: datetime
    stuck: bool
    waiting_for: str | None
    reason: str | None
    detail: str | None
    last_error: str | None


class SagaPage(BaseModel):
    """Sagas, the longest held first."""

    items: list[SagaSummary]


class ActionBody(_Body):
    """Why an operator retries, resumes or cancels a saga (audited with the caller)."""

    why: Why


class SetupBody(_Body):
    """A proposed project set-up, checked before anything is created."""

    selling_legal_entity_id: Id
    customer_id: Id
    currency: CurrencyCode
    rate_card_id: Id | None = None
    name: str = Field(default="proposed project", min_length=1, max_length=200)
    tax_profile: TaxProfile | None = None


class Validation(BaseModel):
    """Whether the set-up may go, and every problem at once."""

    valid: bool
    problems: list[ProblemRead]


class BillingCodeRead(BaseModel):
    """Is a project code open for time on a date (for a worker), from the read model."""

    code: str
    project_id: str
    date: dt.date
    worker_id: str | None
    open: bool
    reason: str | None
    status: str
    open_from: dt.date | None
    closed_from: dt.date | None


class CustomerRead(BaseModel):
    """A CRM account's link to its ERP customer, and its tax problems."""

    customer_id: str
    name: str
    legal_entity_id: str
    country: str
    tax_id: str | None
    crm_instance: str
    crm_account_id: str
    erp: SystemIds
    matched_by: str | None
    linked: bool
    crm_linked: bool
    tax_problems: list[ProblemRead]
    version: int


class ContractBody(_Body):
    """An approved contract (statement of work) of an opportunity."""

    contract_id: Id | None = None
    billing_model: BillingModel
    total_value: BoundedMoney
    cap: BoundedMoney | None = None
    po_number: str | None = Field(default=None, max_length=60)
    po_required: bool = False
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    rate_card_id: Id | None = None
    start_date: dt.date
    end_date: dt.date | None = None
    why: Why


class ContractApproved(BaseModel):
    """The contract approved: ``SOWApproved`` is published and applied to the saga."""

    contract_id: str
    version: int
    opportunity_id: str
    event_id: str
    contract: dict[str, Any]
