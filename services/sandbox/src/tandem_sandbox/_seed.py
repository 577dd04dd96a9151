"""Load a generated firm (``scenario.generate``) into the four systems, each in its own shape.

Records keep the canonical id as their id (and, in the ERP, as their external id), so the
seeded systems refer to one another the way a synced firm would. Seeding writes the baseline
only: it emits no events and sends no webhooks. Canonical states past a system's own (a time
entry ``posted`` or ``invoiced``) are shown as the last state that system knows (``approved``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from typing import Any

import asyncpg

from tandem_contracts import Money
from tandem_sandbox._store import Store
from tandem_sandbox.scenario import Firm, generate

__all__ = ["seed", "seed_database"]

_PSA_PROJECT = {"shell": "estimate", "planned": "estimate", "active": "in_progress"}
_ERP_PROJECT = {
    "shell": "pending",
    "planned": "pending",
    "closed": "closed",
    "cancelled": "cancelled",
}
_STAGE = {"committed": "Closed Won", "lost": "Closed Lost"}
_APPROVAL = {"posted": "approved", "invoiced": "approved", "reimbursed": "approved"}


def _money(value: Money | None) -> str | None:
    return None if value is None else str(value.amount)


def _crm(firm: Firm) -> Iterable[tuple[str, str, dict[str, Any]]]:
    delivering = {p.opportunity_id: list(p.org_unit_ids) for p in firm.projects}
    for c in firm.customers:
        validated = c.tax_profile.vat_id_validated_at
        yield "accounts", c.id, {
            "name": c.name, "country": c.country, "currency": c.currency,
            "tax_id": c.tax_profile.vat_id,
            "vat_validated_at": validated.isoformat() if validated else None,
        }  # fmt: skip
    for o in firm.opportunities:
        yield "opportunities", o.id, {
            "account_id": o.customer_id, "name": o.name, "stage": _STAGE.get(o.status, o.stage),
            "amount": _money(o.amount), "currency": o.amount.currency,
            "close_date": o.close_date.isoformat(), "probability": o.probability_pct,
            "selling_entity": o.selling_legal_entity_id,
            "delivery_units": delivering.get(o.id, []),
        }  # fmt: skip


def _hris(firm: Firm) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for w in firm.workers:
        yield "workers", w.id, {
            "worker_number": w.worker_number, "first_name": "Worker", "last_name": w.worker_number,
            "email": f"{w.worker_number.lower()}@example.com", "company": w.legal_entity_id,
            "employment_type": w.employment_type, "hire_date": w.hire_date.isoformat(),
            "termination_date": w.termination_date.isoformat() if w.termination_date else None,
            "status": w.status, "manager_id": w.manager_id, "org_unit": w.org_unit_id,
            "location_country": w.work_country, "home_currency": w.home_currency,
        }  # fmt: skip
    for n, r in enumerate(rate for rate in firm.cost_rates if rate.worker_id):
        yield "cost-rates", f"crt_seed_{n}", {
            "worker_id": r.worker_id, "amount": _money(r.hourly_cost),
            "currency": r.hourly_cost.currency, "effective_from": r.effective_from.isoformat(),
            "effective_to": r.effective_to.isoformat() if r.effective_to else None,
        }  # fmt: skip


def _psa(firm: Firm) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for p in firm.projects:
        yield "projects", p.id, {
            "name": p.name, "code": p.code, "customer": p.customer_id, "currency": p.currency,
            "status": _PSA_PROJECT.get(p.status, p.status if p.status != "closed" else "completed"),
            "open_for_time": p.flags.time_entry_open,
            "open_for_expenses": p.flags.expense_entry_open,
            "rate_card_id": p.rate_card_id, "external_references": [],
        }  # fmt: skip
    for i in firm.work_items:
        yield "tasks", i.id, {
            "project_id": i.project_id, "parent_id": i.parent_id, "type": i.type, "name": i.name,
            "planned_minutes": i.planned_minutes, "billable": i.billable, "status": i.status,
        }  # fmt: skip
    for r in firm.resources:
        yield "resources", r.id, {
            "name": r.worker_id or f"Placeholder {r.id[-6:]}", "worker_ref": r.worker_id,
            "role": r.primary_role_id, "bookable": r.bookable,
            "skills": [{"skill": s.skill_id, "level": s.level} for s in r.skills],
            "capacity_minutes_per_day": r.capacity_minutes_per_week // 5,
            "utilization_target_pct": r.utilization_target_pct,
        }  # fmt: skip
    for a in firm.assignments:
        yield "assignments", a.id, {
            "project_id": a.project_id, "resource_id": a.resource_id, "task_id": a.work_item_id,
            "role": a.role_id, "start_date": a.start_date.isoformat(),
            "end_date": a.end_date.isoformat(), "minutes_per_day": a.minutes_per_day or 0,
            "booking": a.booking_type, "bill_rate": _money(a.bill_rate),
            "currency": a.bill_rate.currency if a.bill_rate else None, "status": "active",
        }  # fmt: skip
    for c in firm.rate_cards:
        yield "rate-cards", c.id, {
            "name": c.name, "currency": c.currency, "scope": c.scope.model_dump(mode="json"),
            "versions": [
                {"version": v.version, "effective_from": v.effective_from.isoformat(),
                 "effective_to": v.effective_to.isoformat() if v.effective_to else None,
                 "default_rate": _money(v.default_rate),
                 "role_rates": [{"role": rr.role_id, "bill_rate": _money(rr.bill_rate),
                                 "cost_rate": _money(rr.cost_rate)} for rr in v.role_rates],
                 "discount_pct": str(v.discount_pct)}
                for v in c.versions],
        }  # fmt: skip
    yield from _psa_time(firm)


def _psa_time(firm: Firm) -> Iterable[tuple[str, str, dict[str, Any]]]:
    resource_of = {r.worker_id: r.id for r in firm.resources if r.worker_id}
    entries: dict[str, list[str]] = {}
    for e in firm.time_entries:
        entries.setdefault(e.timesheet_id or "", []).append(e.id)
        yield "time-entries", e.id, {
            "resource_id": resource_of.get(e.worker_id, e.worker_id), "project_id": e.project_id,
            "task_id": e.work_item_id, "date": e.work_date.isoformat(),
            "minutes": e.duration_minutes, "billable": e.billable, "notes": e.notes,
            "bill_rate": _money(e.bill_rate),
            "currency": e.bill_rate.currency if e.bill_rate else None,
            "status": _APPROVAL.get(e.status, e.status), "revision": 1,
            "timesheet_id": e.timesheet_id,
        }  # fmt: skip
    for t in firm.timesheets:
        yield "timesheets", t.id, {
            "resource_id": resource_of.get(t.worker_id, t.worker_id),
            "period_start": t.period_start.isoformat(), "period_end": t.period_end.isoformat(),
            "status": t.status, "entry_ids": entries.get(t.id, []), "approvals": [],
        }  # fmt: skip
    for x in firm.expenses:
        yield "expenses", x.id, {
            "resource_id": resource_of.get(x.worker_id, x.worker_id), "project_id": x.project_id,
            "date": x.expense_date.isoformat(), "category": x.category, "amount": _money(x.amount),
            "currency": x.amount.currency, "billable": x.billable,
            "markup_multiplier": str(x.markup_multiplier), "receipt_ref": x.receipt_ref,
            "status": _APPROVAL.get(x.status, x.status), "approvals": [],
        }  # fmt: skip


def _erp(firm: Firm) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for le in firm.legal_entities:
        yield (
            "subsidiaries",
            le.id,
            {
                "name": le.name,
                "country": le.country,
                "currency": le.functional_currency,
            },
        )
    for c in firm.customers:
        yield "customers", c.id, {
            "name": c.name, "subsidiary_id": c.legal_entity_id, "currency": c.currency,
            "country": c.country, "terms_days": c.payment_terms_days,
            "vat_id": c.tax_profile.vat_id,
        }  # fmt: skip
    costs: dict[str, list[dict[str, str]]] = {}
    for r in firm.cost_rates:
        if r.worker_id:
            costs.setdefault(r.worker_id, []).append({
                "amount": str(r.hourly_cost.amount), "currency": r.hourly_cost.currency,
                "effective_from": r.effective_from.isoformat()})  # fmt: skip
    for w in firm.workers:
        yield (
            "employees",
            w.id,
            {
                "name": w.worker_number,
                "subsidiary_id": w.legal_entity_id,
                "cost_rates": costs.get(w.id, []),
            },
        )
    for n, p in enumerate(firm.projects, start=1):
        yield "projects", p.id, {
            "name": p.name, "customer_id": p.customer_id, "subsidiary_id": p.legal_entity_id,
            "currency": p.currency, "code": p.code or f"PRJ-S{n:04d}",
            "status": _ERP_PROJECT.get(p.status, "in_progress"), "service_item_id": None,
            "allow_time": p.flags.time_entry_open, "allow_expenses": p.flags.expense_entry_open,
        }  # fmt: skip
    for a in firm.periods:
        yield "accounting-periods", a.id, {
            "subsidiary_id": a.legal_entity_id, "name": a.name, "status": a.status,
            "start_date": a.start_date.isoformat(), "end_date": a.end_date.isoformat(),
        }  # fmt: skip


_SYSTEMS = {"crm": _crm, "hris": _hris, "psa": _psa, "erp": _erp}


async def seed(
    store: Store, firm: Firm, systems: Collection[str] = tuple(_SYSTEMS)
) -> dict[str, int]:
    """Write ``firm`` into the ``systems`` (one transaction each); answer counts per collection."""
    counts: Counter[str] = Counter()
    for system, records in _SYSTEMS.items():
        if system not in systems:
            continue
        async with store.tx(system) as tx:
            for collection, id_, data in records(firm):
                external_id = id_ if system == "erp" else None
                await tx.insert(collection, id_, data, external_id)
                counts[f"{system}/{collection}"] += 1
    return dict(counts)


_write = seed  # seed_database's argument is called ``seed`` too


async def seed_database(database_url: str, *, seed: int = 7) -> dict[str, int]:
    """Generate the firm of ``seed`` and write it into the sandbox schema at ``database_url``."""
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as pool:
        return await _write(Store(pool), generate(seed))
