"""The process API's request and response bodies."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from tandem_contracts.entities import FxRate

__all__ = [
    "EntryPage",
    "EntryRead",
    "EntrySummary",
    "ExceptionPage",
    "ExceptionRead",
    "FxRatesLoad",
    "FxRatesLoaded",
    "MismatchRead",
    "OpenException",
    "Period",
    "PostingLineRead",
    "PostingSummary",
    "ReconciliationRead",
    "ReconciliationRequest",
    "SummaryRow",
    "period_bounds",
]

Period = Annotated[
    str,
    StringConstraints(pattern=r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"),
    Field(examples=["2026-10"], description="an accounting period, YYYY-MM, years 1900-2999"),
]


def period_bounds(period: str) -> tuple[date, date]:
    """The first and last day of a ``Period``."""
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


class PostingLineRead(BaseModel):
    """One line written to the ERP for the entry (a reversal is negative)."""

    key: str
    kind: str
    erp_instance: str
    erp_id: str
    accounting_date: date
    late: bool
    minutes: int
    bill_amount: Decimal | None
    cost_amount: Decimal | None
    currency: str
    posted_at: datetime


class OpenException(BaseModel):
    """Why the entry is not posted (yet)."""

    reason: str
    detail: str
    retryable: bool
    waiting_for: str | None
    opened_at: datetime


class EntrySummary(BaseModel):
    """Where one time entry stands between the PSA and the ERP."""

    entry_id: str
    version: int
    stage: str
    worker_id: str
    project_id: str
    timesheet_id: str | None
    legal_entity_id: str
    region: str
    work_date: date
    updated_at: datetime


class EntryRead(EntrySummary):
    """An entry's status with its ERP postings and open exception."""

    postings: list[PostingLineRead]
    exception: OpenException | None


class EntryPage(BaseModel):
    """A page of entries; pass ``next_after`` as ``after`` for the next one."""

    items: list[EntrySummary]
    next_after: str | None


class SummaryRow(BaseModel):
    """Posted totals of one project in one currency (time or expenses)."""

    project_id: str
    legal_entity_id: str
    currency: str
    subject_type: str
    posted: int
    reversed: int
    late: int
    net_minutes: int
    bill_amount: Decimal | None
    cost_amount: Decimal | None
    amount: Decimal | None


class PostingSummary(BaseModel):
    """What was posted with accounting dates in the period."""

    period: str
    start: date
    end: date
    rows: list[SummaryRow]


class ExceptionRead(BaseModel):
    """A business exception: a time entry or expense that could not post, and why."""

    subject_type: str
    subject_id: str
    event_id: str | None
    reason: str
    detail: str
    retryable: bool
    waiting_for: str | None
    project_id: str | None
    worker_id: str | None
    legal_entity_id: str | None
    region: str | None
    org_unit_ids: list[str]
    opened_at: datetime
    resolved_at: datetime | None


class ExceptionPage(BaseModel):
    """A page of exceptions; pass ``next_after`` as ``after`` for the next one."""

    items: list[ExceptionRead]
    next_after: str | None


class ReconciliationRequest(BaseModel):
    """Reconcile one legal entity's approved time of one month (repairing what is safe)."""

    legal_entity_id: str = Field(min_length=1, max_length=64)
    period: Period
    repair: bool = True


class MismatchRead(BaseModel):
    """One disagreement between the PSA and the ERP."""

    kind: str
    scope_key: str
    project_id: str
    worker_id: str | None
    period: str
    source_value: str
    target_value: str
    entry_ids: list[str]
    repairable: bool


class ReconciliationRead(BaseModel):
    """A reconciliation run: what it compared, found and repaired."""

    run_id: str
    legal_entity_id: str
    start: date
    end: date
    psa_entries: int
    erp_lines: int
    mismatches: list[MismatchRead]
    repaired: list[str]
    held: int


class FxRatesLoad(BaseModel):
    """FX rates for cost conversion at the work date (finance's published rates)."""

    rates: list[FxRate] = Field(min_length=1, max_length=5_000)  # fits the 1 MiB body limit


class FxRatesLoaded(BaseModel):
    """How many rates were loaded."""

    loaded: int
