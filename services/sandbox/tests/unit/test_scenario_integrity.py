"""Invariants every generated firm keeps, checked on the defaults and over random seeds."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem_contracts import minor_unit
from tandem_contracts.entities import (
    Assignment,
    CostRate,
    FxRateType,
    RateCard,
    TimeEntryStatus,
    TimesheetStatus,
)
from tandem_sandbox.scenario import Firm, generate

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def check_ids_are_unique_uuid7(firm: Firm) -> None:
    ids = _all_ids(firm)
    assert len(ids) == len(set(ids))
    assert all(_ID.match(i) for i in ids)


def check_time_entries_reference_what_they_book(firm: Firm) -> None:
    workers = {w.id: w for w in firm.workers}
    projects = {p.id: p for p in firm.projects}
    assignments = {a.id: a for a in firm.assignments}
    tasks = {w.id: w for w in firm.work_items}
    for e in firm.time_entries:
        worker, project = workers[e.worker_id], projects[e.project_id]
        assert e.work_date.weekday() < 5
        assert e.work_date.replace(day=1) == firm.month
        assert worker.legal_entity_id == e.worker_legal_entity_id
        assert project.legal_entity_id == e.project_legal_entity_id
        assert worker.hire_date <= e.work_date
        assert worker.termination_date is None or e.work_date <= worker.termination_date
        assert e.duration_minutes > 0
        assert e.duration_minutes % 15 == 0
        if project.flags.time_requires_assignment:
            assert e.assignment_id is not None
        if e.assignment_id is not None:
            _check_assignment_covers(
                assignments[e.assignment_id], e.worker_id, e.project_id, e.work_date
            )
        if e.work_item_id is not None:
            assert tasks[e.work_item_id].project_id == e.project_id


def _check_assignment_covers(a: Assignment, worker_id: str, project_id: str, day: date) -> None:
    assert (a.worker_id, a.project_id) == (worker_id, project_id)
    assert a.start_date <= day <= a.end_date


def check_days_are_six_to_nine_hours(firm: Firm) -> None:
    per_day: Counter[tuple[str, date]] = Counter()
    projects: defaultdict[tuple[str, date], set[str]] = defaultdict(set)
    for e in firm.time_entries:
        per_day[(e.worker_id, e.work_date)] += e.duration_minutes
        projects[(e.worker_id, e.work_date)].add(e.project_id)
    assert all(360 <= minutes <= 540 for minutes in per_day.values())
    assert all(1 <= len(ids) <= 3 for ids in projects.values())


def check_timesheets_hold_their_entries(firm: Firm) -> None:
    sheets = {s.id: s for s in firm.timesheets}
    used = Counter(e.timesheet_id for e in firm.time_entries)
    assert set(used) == set(sheets)  # no empty sheet, no orphan entry
    allowed = {
        TimesheetStatus.OPEN: {TimeEntryStatus.DRAFT},
        TimesheetStatus.SUBMITTED: {TimeEntryStatus.SUBMITTED},
        TimesheetStatus.APPROVED: {TimeEntryStatus.APPROVED},
        TimesheetStatus.REJECTED: {TimeEntryStatus.REJECTED},
        TimesheetStatus.PARTIALLY_APPROVED: {TimeEntryStatus.APPROVED, TimeEntryStatus.REJECTED},
    }
    for e in firm.time_entries:
        assert e.timesheet_id is not None
        sheet = sheets[e.timesheet_id]
        assert sheet.worker_id == e.worker_id
        assert sheet.period_start <= e.work_date <= sheet.period_end
        assert e.status in allowed[sheet.status]
    for sheet in firm.timesheets:
        assert sheet.period_start.weekday() == 0
        assert sheet.period_end - sheet.period_start == timedelta(days=6)
        decided = sheet.status not in (TimesheetStatus.OPEN, TimesheetStatus.SUBMITTED)
        assert bool(sheet.approvals) == decided
        assert all(step.approver_id != sheet.worker_id for step in sheet.approvals)


def check_rate_card_versions_do_not_overlap(firm: Firm) -> None:
    for card in firm.rate_cards:
        versions = card.versions
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))
        for earlier, later in pairwise(versions):
            assert earlier.effective_to is not None
            assert earlier.effective_to + timedelta(days=1) == later.effective_from
        assert versions[-1].effective_to is None
        money = [v.default_rate for v in versions] + [
            r.bill_rate for v in versions for r in v.role_rates
        ]
        assert all(m is not None and m.currency == card.currency for m in money)


def check_entry_rates_come_from_the_project_card_and_cost_history(firm: Firm) -> None:
    cards: dict[str, RateCard] = {c.id: c for c in firm.rate_cards}
    projects = {p.id: p for p in firm.projects}
    workers = {w.id: w for w in firm.workers}
    for e in firm.time_entries:
        assert e.rate_source is not None
        assert e.bill_rate is not None
        card = cards[e.rate_source.rate_card_id or ""]
        assert card.id == projects[e.project_id].rate_card_id
        assert e.bill_rate.currency == card.currency == projects[e.project_id].currency
        version = card.versions[(e.rate_source.rate_card_version or 0) - 1]
        assert version.effective_from <= e.work_date
        assert version.effective_to is None or e.work_date <= version.effective_to
        rows = {r.role_id: r.bill_rate for r in version.role_rates}
        assert e.bill_rate == rows.get(e.role_id or "", version.default_rate)
        cost = firm.cost_rate_on(e.worker_id, e.work_date)
        assert cost is not None
        assert e.cost_rate == cost.hourly_cost
        assert cost.hourly_cost.currency == workers[e.worker_id].home_currency


def check_cost_rates_are_contiguous_per_worker(firm: Firm) -> None:
    history: defaultdict[str | None, list[CostRate]] = defaultdict(list)
    for rate in firm.cost_rates:
        history[rate.worker_id].append(rate)
    assert set(history) == {w.id for w in firm.workers}
    hires = {w.id: w.hire_date for w in firm.workers}
    for worker_id, rates in history.items():
        assert rates[0].effective_from == hires[worker_id or ""]
        for earlier, later in pairwise(rates):
            assert earlier.effective_to is not None
            assert earlier.effective_to + timedelta(days=1) == later.effective_from
        assert all(r.effective_to is None or r.effective_from <= r.effective_to for r in rates)


def check_money_and_fx(firm: Firm) -> None:
    currencies = {c.currency for c in firm.customers} | {
        e.functional_currency for e in firm.legal_entities
    }
    rates = {r.id: r for r in firm.fx_rates}
    workers = {w.id: w for w in firm.workers}
    projects = {p.id: p for p in firm.projects}
    for x in firm.expenses:
        home = workers[x.worker_id].home_currency
        assert x.amount.currency in {home, projects[x.project_id].currency}
        assert x.amount.amount > 0
        assert x.amount.amount.as_tuple().exponent == -minor_unit(x.amount.currency)
        assert x.reimbursement_amount is not None
        assert x.reimbursement_amount.currency == home
        if x.fx is None:
            assert x.amount == x.reimbursement_amount
        else:
            rate = rates[x.fx.rate_id]
            assert (rate.base, rate.quote) == (x.amount.currency, home)
            assert rate.effective_date <= x.expense_date
            expected = (x.amount.amount * rate.rate).quantize(Decimal("0.01"))
            assert abs(x.reimbursement_amount.amount - expected) <= Decimal("0.01")
        assert x.project_legal_entity_id == projects[x.project_id].legal_entity_id
    spot = {
        (r.base, r.quote, r.effective_date) for r in firm.fx_rates if r.rate_type is FxRateType.SPOT
    }
    pairs = {(base, quote) for base, quote, _ in spot}
    assert {(c, "USD") for c in currencies if c != "USD"} <= pairs
    for day in (firm.month + timedelta(days=n) for n in range(28)):
        for base, quote in pairs:  # a rate on or before every day of the month
            assert any((base, quote, day - timedelta(days=back)) in spot for back in range(4))


CHECKS = (
    check_ids_are_unique_uuid7,
    check_time_entries_reference_what_they_book,
    check_days_are_six_to_nine_hours,
    check_timesheets_hold_their_entries,
    check_rate_card_versions_do_not_overlap,
    check_entry_rates_come_from_the_project_card_and_cost_history,
    check_cost_rates_are_contiguous_per_worker,
    check_money_and_fx,
)


def _all_ids(firm: Firm) -> list[str]:
    groups = (
        firm.legal_entities, firm.org_units, firm.roles, firm.skills, firm.workers,
        firm.resources, firm.customers, firm.rate_cards, firm.opportunities, firm.contracts,
        firm.projects, firm.work_items, firm.milestones, firm.resource_requests, firm.assignments,
        firm.timesheets, firm.time_entries, firm.expenses, firm.fx_rates, firm.periods,
    )  # fmt: skip
    return [item.id for group in groups for item in group]


@cache
def default_firm() -> Firm:
    return generate()


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_default_firm_keeps_every_invariant(check) -> None:
    check(default_firm())


def test_the_checks_can_fail() -> None:
    firm = default_firm()
    broken = firm.time_entries[0].model_copy(update={"duration_minutes": 7})
    with pytest.raises(AssertionError):
        check_time_entries_reference_what_they_book(
            replace(firm, time_entries=(broken, *firm.time_entries[1:]))
        )


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    consultants=st.integers(min_value=10, max_value=40),
    customers=st.integers(min_value=6, max_value=14),
    month=st.sampled_from(
        [date(2026, 1, 1), date(2026, 2, 1), date(2026, 10, 1), date(2027, 12, 1)]
    ),
)
def test_every_firm_keeps_every_invariant(
    seed: int, consultants: int, customers: int, month: date
) -> None:
    firm = generate(seed, consultants=consultants, customers=customers, month=month)
    sizes = (len(firm.workers), len(firm.customers))
    assert sizes == (consultants, customers)
    for check in CHECKS:
        check(firm)
