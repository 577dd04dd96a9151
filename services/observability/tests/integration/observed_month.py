"""A generated month of a small firm, as the services publish it, for observability's tests.

Four consultants work last month (relative to today, so the utilization job looks at it):
w1, w2 (eu, ou-data) and w3 (eu, ou-apps, hired on the 15th) on two UK and German projects,
w4 (us, ou-apps) on a US project, their rate resolved only when posted (as time-expense
freezes it from the rate card). Each files one timesheet; every entry is approved, posted
and charged, except one of w2's, approved and never posted. p-uk (GBP) is invoiced at 90 % of
its standard value; p-de (EUR) is not invoiced; p-us (USD) is invoiced in full. Two
opportunities are committed and one becomes active. The builders take sample payloads and
change ids, dates and amounts.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tandem_contracts import Envelope, Money
from tandem_contracts import entities as ent
from tandem_contracts import events as ev
from tandem_contracts.samples import sample_envelopes
from tandem_testing import sibling_module

envelope = sibling_module(__file__, "observed_harness.py", "observability_it_harness").envelope

_SAMPLES = {e.event_type: e.payload for e in sample_envelopes()}
MINUTES = 480


@dataclass(frozen=True)
class Consultant:
    """A consultant of the month: where they work, what they bill, how long approval took."""

    worker_id: str
    entity: str
    region: str
    org_unit: str
    project: str
    rate: str
    currency: str
    days: int
    approval_lag_h: int
    hired_on: int | None = None
    rated_at_approval: bool = True


CONSULTANTS = (
    Consultant("w1", "le-uk", "eu", "ou-data", "p-uk", "100.00", "GBP", 20, 2),
    Consultant("w2", "le-uk", "eu", "ou-data", "p-uk", "100.00", "GBP", 10, 10),
    Consultant("w3", "le-de", "eu", "ou-apps", "p-de", "120.00", "EUR", 8, 26, hired_on=15),
    Consultant("w4", "le-us", "us", "ou-apps", "p-us", "150.00", "USD", 15, 4,
               rated_at_approval=False),
)  # fmt: skip
INVOICED = {"p-uk": Decimal("0.90"), "p-us": Decimal("1")}
"""Invoiced projects and the share of each charge's standard value they bill."""
UNPOSTED = "te-w2-02"


def last_month(today: date) -> tuple[date, date]:
    """The first and last day of the month before ``today``'s."""
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def weekdays(start: date, end: date) -> list[date]:
    """Monday-to-Friday dates from start to end (counted one by one, for the expectations)."""
    days = [start + timedelta(n) for n in range((end - start).days + 1)]
    return [d for d in days if d.weekday() < 5]


@dataclass
class Month:
    """The envelopes, and what the test expects of them."""

    first: date
    last: date
    events: list[Envelope[Any]] = field(default_factory=list)
    entries: dict[str, list[tuple[str, date]]] = field(default_factory=dict)
    invoice_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.invoice_at = datetime.combine(self.last + timedelta(days=5), time(9), UTC)

    def worked(self, c: Consultant) -> list[date]:
        start = self.first.replace(day=c.hired_on) if c.hired_on else self.first
        return weekdays(start, self.last)[: c.days]


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def _entry(c: Consultant, entry_id: str, on: date, status: ent.TimeEntryStatus) -> Any:
    sample = _SAMPLES["TimeApproved"].entry
    rate = Money.of(c.rate, c.currency)
    return sample.model_copy(update={
        "id": entry_id, "timesheet_id": f"ts-{c.worker_id}", "worker_id": c.worker_id,
        "worker_legal_entity_id": c.entity, "project_id": c.project,
        "project_legal_entity_id": c.entity, "work_date": on, "duration_minutes": MINUTES,
        "billable": True, "status": status, "notes": f"confidential note of {entry_id}",
        "bill_rate": rate if c.rated_at_approval else None,
        "cost_rate": Money.of("50.00", c.currency),
    })  # fmt: skip


def _timesheet(month: Month, c: Consultant) -> None:
    days = month.worked(c)
    ids = [f"te-{c.worker_id}-{n:02d}" for n in range(1, len(days) + 1)]
    month.entries[c.worker_id] = list(zip(ids, days, strict=True))
    flow = f"ts-{c.worker_id}"
    submitted_at = _at(month.last, 18)
    sheet = _SAMPLES["TimeSubmitted"].timesheet.model_copy(update={
        "id": flow, "worker_id": c.worker_id, "period_start": month.first,
        "period_end": month.last,
    })  # fmt: skip
    tes = ent.TimeEntryStatus
    entries = tuple(_entry(c, i, d, tes.SUBMITTED) for i, d in zip(ids, days, strict=True))
    add = month.events.append
    ctx = {"correlation": flow, "entity": c.entity, "region": c.region}
    add(envelope(ev.TimeSubmitted(timesheet=sheet, entries=entries, submitted_at=submitted_at),
                 service="time-expense", at=submitted_at, **ctx))  # fmt: skip
    approved_at = submitted_at + timedelta(hours=c.approval_lag_h)
    posting = _SAMPLES["TimePosted"]
    for entry_id, day in zip(ids, days, strict=True):
        entry = _entry(c, entry_id, day, tes.APPROVED)
        add(envelope(ev.TimeApproved(entry=entry, approval_version=1, approved_by="pm-1",
                                     approved_at=approved_at),
                     service="time-expense", at=approved_at, version=2, **ctx))  # fmt: skip
        if entry_id == UNPOSTED:
            continue
        value = Money.of(c.rate, c.currency).times(8)
        posted_at = approved_at + timedelta(minutes=5)
        line = posting.erp_ref.model_copy(update={"external_id": f"line-{entry_id}"})
        add(envelope(posting.model_copy(update={
            "time_entry_id": entry_id, "project_id": c.project, "worker_id": c.worker_id,
            "erp_ref": line, "work_date": day, "accounting_date": day,
            "duration_minutes": MINUTES, "bill_amount": value, "posted_at": posted_at,
            "bill_rate": Money.of(c.rate, c.currency), "billable": True,
            "cost_amount": Money.of("400.00", c.currency),
        }), service="time-expense", at=posted_at, version=3, **ctx))  # fmt: skip
        share = INVOICED.get(c.project, Decimal(1))
        charge = _SAMPLES["ChargeCreated"].charge.model_copy(update={
            "id": f"chg-{entry_id}", "project_id": c.project, "source_ids": (entry_id,),
            "rate": Money.of(c.rate, c.currency), "amount": Money.of(value.amount * share,
                                                                     c.currency),
            "bill_date": day, "billing_period": f"{day:%Y-%m}",
        })  # fmt: skip
        add(envelope(ev.ChargeCreated(charge=charge), service="billing-readiness",
                     at=posted_at + timedelta(seconds=1), **ctx))  # fmt: skip


def _invoice(month: Month, project: str, entity: str, region: str) -> None:
    charges = [
        e.payload.charge for e in month.events
        if e.event_type == "ChargeCreated" and e.payload.charge.project_id == project
    ]  # fmt: skip
    currency = charges[0].amount.currency
    subtotal = Money.of(sum((c.amount.amount for c in charges), Decimal(0)), currency)
    line = _SAMPLES["InvoicePosted"].invoice.lines[0].model_copy(update={
        "charge_ids": tuple(c.id for c in charges), "amount": subtotal,
        "unit_price": subtotal, "quantity": Decimal(1), "project_id": project,
    })  # fmt: skip
    invoice_id = f"inv-{project}"
    flow = {"correlation": invoice_id, "entity": entity, "region": region}
    ready = _SAMPLES["InvoiceReady"].model_copy(update={
        "invoice_id": invoice_id, "project_id": project, "currency": currency,
        "lines": (line,), "subtotal": subtotal, "charge_ids": tuple(c.id for c in charges),
    })  # fmt: skip
    month.events.append(envelope(ready, service="billing-readiness",
                                 at=month.invoice_at - timedelta(hours=1), **flow))  # fmt: skip
    invoice = _SAMPLES["InvoicePosted"].invoice.model_copy(update={
        "id": invoice_id, "number": f"INV-{project.upper()}-1", "currency": currency,
        "lines": (line,), "subtotal": subtotal, "total": subtotal,
        "tax_total": Money.of("0", currency),
    })  # fmt: skip
    month.events.append(envelope(ev.InvoicePosted(invoice=invoice, posted_at=month.invoice_at),
                                 service="billing-readiness", at=month.invoice_at, version=2,
                                 **flow))  # fmt: skip


def _people_and_deals(month: Month) -> None:
    add = month.events.append
    start = _at(month.first, 8) - timedelta(days=40)
    for c in CONSULTANTS:
        hired = month.first.replace(day=c.hired_on) if c.hired_on else date(2024, 1, 8)
        worker = _SAMPLES["ConsultantOnboarded"].worker.model_copy(update={
            "id": c.worker_id, "legal_entity_id": c.entity, "org_unit_id": c.org_unit,
            "hire_date": hired, "status": ent.WorkerStatus.ACTIVE,
        })  # fmt: skip
        onboarded = _SAMPLES["ConsultantOnboarded"].model_copy(
            update={"worker": worker, "start_date": hired}
        )
        add(envelope(onboarded, service="staffing-sync", correlation=f"hire-{c.worker_id}",
                     at=start, entity=c.entity, region=c.region))  # fmt: skip
    booking = _SAMPLES["AssignmentConfirmed"].assignment
    for worker, kind in (("w1", ent.BookingType.HARD), ("w2", ent.BookingType.SOFT)):
        assignment = booking.model_copy(update={
            "id": f"asg-{worker}", "project_id": "p-uk", "resource_id": f"res-{worker}",
            "worker_id": worker, "start_date": month.first, "end_date": month.last,
            "minutes_per_day": MINUTES, "booking_type": kind,
        })  # fmt: skip
        add(
            envelope(
                ev.AssignmentConfirmed(assignment=assignment, confirmed_at=start),
                service="staffing-sync",
                correlation=f"asg-{worker}",
                at=start,
            )
        )
    opportunity = _SAMPLES["OpportunityCommitted"].opportunity
    project = _SAMPLES["ProjectActivated"].project
    for opp, active in (("opp-a", True), ("opp-b", False)):
        committed = ev.OpportunityCommitted(
            opportunity=opportunity.model_copy(update={"id": opp, "name": f"Secret deal {opp}"}),
            committed_at=start)  # fmt: skip
        add(envelope(committed, service="project-sync", correlation=f"q2c-{opp}", at=start))
        if active:
            activated = ev.ProjectActivated(
                project=project.model_copy(update={"id": "p-uk", "opportunity_id": opp}),
                activated_at=start + timedelta(minutes=30))  # fmt: skip
            add(envelope(activated, service="project-sync", correlation=f"q2c-{opp}",
                         at=start + timedelta(minutes=30), version=3))  # fmt: skip


def _findings(month: Month) -> None:
    at = month.invoice_at
    leakage = _SAMPLES["RevenueLeakageDetected"]
    for n, amount in enumerate(("960.00", "1920.00")):
        found = leakage.model_copy(update={
            "project_id": "p-de", "amount": Money.of(amount, "EUR"),
            "detected_at": at + timedelta(hours=n),
        })  # fmt: skip
        month.events.append(envelope(found, service="billing-readiness", correlation=f"leak-{n}",
                                     at=at + timedelta(hours=n), entity="le-de",
                                     version=n + 1))  # fmt: skip
    mismatch = _SAMPLES["ReconciliationMismatch"]
    for n, kind in enumerate((ev.MismatchKind.MISSING_IN_TARGET, ev.MismatchKind.MINUTES_DIFFER)):
        found = mismatch.model_copy(update={
            "run_id": "rec-1", "kind": kind, "scope_key": f"p-uk:{n}", "project_id": "p-uk",
            "detected_at": at,
        })  # fmt: skip
        month.events.append(envelope(found, service="time-expense", correlation="rec-1", at=at))


def generate(today: date) -> Month:
    """The month before ``today``'s, every event of it."""
    first, last = last_month(today)
    month = Month(first, last)
    _people_and_deals(month)
    for c in CONSULTANTS:
        _timesheet(month, c)
    _invoice(month, "p-uk", "le-uk", "eu")
    _invoice(month, "p-us", "le-us", "us")
    _findings(month)
    return month


def days_in(month_first: date) -> int:
    """Calendar days of the month (for the expectations' own arithmetic)."""
    return calendar.monthrange(month_first.year, month_first.month)[1]
