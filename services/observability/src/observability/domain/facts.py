"""What an event contributes to the business KPIs: numbers, dates, ids and codes, allow-listed.

``facts_of(envelope)`` returns a flat JSON-safe dict (decimals and dates as strings) or ``{}``
for an event no KPI needs. The KPI projector folds these facts into its tables; the timeline
step carries them so the projector never decodes a payload again. Nothing here is free text.

Flows (sync completeness per domain, and the SLOs' latencies) are named by ``flow``:
``[domain, key, "start" | "end"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tandem_contracts import Envelope

__all__ = ["FLOW_DOMAINS", "facts_of"]

FLOW_DOMAINS: dict[str, str] = {
    "quote_to_cash": "opportunity committed -> project active",
    "time_posting": "time approved -> posted in the ERP",
    "expense_posting": "expense approved -> posted in the ERP",
    "staffing": "resource requested -> options proposed",
    "invoicing": "invoice ready -> posted in the ERP",
}
"""The domains whose sync completeness is measured: each flow's start and end events."""

Facts = dict[str, Any]


def _money(value: Any) -> tuple[str, str]:
    return str(Decimal(value.amount)), str(value.currency)


def _entry(entry: Any) -> Facts:
    # An approved entry's rate is often resolved only when it posts (time-expense freezes it
    # from the rate card then): no rate is known at approval, not an error.
    rate, currency = _money(entry.bill_rate) if entry.bill_rate is not None else (None, None)
    return {
        "entry": entry.id,
        "timesheet": entry.timesheet_id,
        "worker": entry.worker_id,
        "project": entry.project_id,
        "work_date": entry.work_date.isoformat(),
        "minutes": entry.duration_minutes,
        "billable": entry.billable,
        "rate": rate,
        "currency": currency,
    }


def _time_approved(p: Any) -> Facts:
    return {"flow": ["time_posting", p.entry.id, "start"], **_entry(p.entry)}


def _time_posted(p: Any) -> Facts:
    # A posting without an amount (time-expense has none for it): a step all the same.
    amount, currency = _money(p.bill_amount) if p.bill_amount is not None else (None, None)
    facts: Facts = {
        "entry": p.time_entry_id,
        "worker": p.worker_id,
        "project": p.project_id,
        "work_date": p.work_date.isoformat(),
        "minutes": p.duration_minutes,
        "amount": amount,
        "currency": currency,
        "billable": p.billable,
        "reversal_of": p.reversal_of,
    }
    if p.reversal_of is None:
        facts["flow"] = ["time_posting", p.time_entry_id, "end"]
    return facts


def _time_submitted(p: Any) -> Facts:
    return {"timesheet": p.timesheet.id, "entries": [entry.id for entry in p.entries]}


def _time_rejected(p: Any) -> Facts:
    return {"entry": p.time_entry_id, "worker": p.worker_id}


def _time_adjusted(p: Any) -> Facts:
    return {"replaces": p.original_entry_id, **_entry(p.replacement)}


def _expense_approved(p: Any) -> Facts:
    return {"flow": ["expense_posting", p.expense.id, "start"]}


def _expense_posted(p: Any) -> Facts:
    if p.reversal_of is not None:
        return {}
    return {"flow": ["expense_posting", p.expense_id, "end"]}


def _opportunity_committed(p: Any) -> Facts:
    return {"flow": ["quote_to_cash", p.opportunity.id, "start"]}


def _project_activated(p: Any) -> Facts:
    if p.project.opportunity_id is None:
        return {}
    return {"flow": ["quote_to_cash", p.project.opportunity_id, "end"]}


def _resource_requested(p: Any) -> Facts:
    return {"flow": ["staffing", p.request.id, "start"]}


def _options_proposed(p: Any) -> Facts:
    return {"flow": ["staffing", p.request_id, "end"]}


def _worker(worker: Any, start: Any) -> Facts:
    return {
        "worker": worker.id,
        "entity": worker.legal_entity_id,
        "org_unit": worker.org_unit_id,
        "hire_date": (start or worker.hire_date).isoformat(),
        "last_day": worker.termination_date.isoformat() if worker.termination_date else None,
    }


def _onboarded(p: Any) -> Facts:
    return _worker(p.worker, p.start_date)


def _worker_updated(p: Any) -> Facts:
    return _worker(p.worker, None)


def _terminated(p: Any) -> Facts:
    return {"worker": p.worker_id, "last_day": p.last_day.isoformat()}


def _assignment_confirmed(p: Any) -> Facts:
    a = p.assignment
    return {
        "assignment": a.id,
        "worker": a.worker_id or a.resource_id,
        "start": a.start_date.isoformat(),
        "end": a.end_date.isoformat(),
        "minutes_per_day": a.minutes_per_day,
        "total_minutes": a.total_minutes,
        "hard": str(a.booking_type) == "hard",
    }


def _assignment_cancelled(p: Any) -> Facts:
    return {"assignment": p.assignment_id}


def _charge_created(p: Any) -> Facts:
    charge = p.charge
    amount, currency = _money(charge.amount)
    return {
        "charge": charge.id,
        "project": charge.project_id,
        "source": str(charge.source),
        "source_ids": list(charge.source_ids),
        "amount": amount,
        "currency": currency,
        "bill_date": charge.bill_date.isoformat(),
        "intercompany": charge.intercompany,
    }


def _invoice_ready(p: Any) -> Facts:
    subtotal, currency = _money(p.subtotal)
    return {
        "flow": ["invoicing", p.invoice_id, "start"],
        "invoice": p.invoice_id,
        "charges": list(p.charge_ids),
        "subtotal": subtotal,
        "currency": currency,
        "credit_of": p.credit_of,
    }


def _invoice_posted(p: Any) -> Facts:
    invoice = p.invoice
    charges = [charge for line in invoice.lines for charge in line.charge_ids]
    subtotal, currency = _money(invoice.subtotal)
    return {
        "flow": ["invoicing", invoice.id, "end"],
        "invoice": invoice.id,
        "charges": charges,
        "subtotal": subtotal,
        "currency": currency,
    }


def _invoice_credited(p: Any) -> Facts:
    return {"flow": ["invoicing", p.credit_note.id, "end"], "credited": p.credited_invoice_id}


def _leakage(p: Any) -> Facts:
    amount, currency = _money(p.amount)
    return {
        "project": p.project_id,
        "kind": str(p.kind),
        "amount": amount,
        "currency": currency,
        "items": p.item_count,
    }


def _mismatch(p: Any) -> Facts:
    return {
        "run": p.run_id,
        "kind": str(p.kind),
        "source": str(p.source_system),
        "target": str(p.target_system),
        "scope": p.scope_key,
        "project": p.project_id,
    }


_EXTRACTORS: dict[str, Callable[[Any], Facts]] = {
    "OpportunityCommitted": _opportunity_committed,
    "ProjectActivated": _project_activated,
    "ConsultantOnboarded": _onboarded,
    "WorkerUpdated": _worker_updated,
    "WorkerTerminated": _terminated,
    "ResourceRequested": _resource_requested,
    "StaffingOptionsProposed": _options_proposed,
    "AssignmentConfirmed": _assignment_confirmed,
    "AssignmentCancelled": _assignment_cancelled,
    "TimeSubmitted": _time_submitted,
    "TimeApproved": _time_approved,
    "TimeRejected": _time_rejected,
    "TimeAdjusted": _time_adjusted,
    "TimePosted": _time_posted,
    "ExpenseApproved": _expense_approved,
    "ExpensePosted": _expense_posted,
    "ChargeCreated": _charge_created,
    "InvoiceReady": _invoice_ready,
    "InvoicePosted": _invoice_posted,
    "InvoiceCredited": _invoice_credited,
    "RevenueLeakageDetected": _leakage,
    "ReconciliationMismatch": _mismatch,
}


def facts_of(envelope: Envelope[Any]) -> Facts:
    """What ``envelope`` contributes to the KPIs (``{}`` for an event none needs)."""
    extract = _EXTRACTORS.get(envelope.event_type)
    return extract(envelope.payload) if extract is not None else {}
