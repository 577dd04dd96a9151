"""time-expense's tables in dictionaries, and its two repositories on them.

``FakeLedgers`` and ``FakeReferenceData`` answer as ``adapters.ledger`` and
``adapters.reference`` do with their SQL: the same upserts, filters and orders. JSON columns
are kept as their JSON round trip, so what a handler reads back is what PostgreSQL would give.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel

from tandem_contracts.entities import (
    AccountingPeriod,
    Assignment,
    AssignmentStatus,
    CostRate,
    Expense,
    FxRate,
    Project,
    RateCard,
    TimeEntry,
    Worker,
)
from time_expense.domain import EntryLedger, Post
from time_expense.domain.checks import Employment
from time_expense.service_layer.unit_of_work import (
    AbstractLedgers,
    AbstractReferenceData,
    BusinessException,
    ExpenseLedger,
    JournalLine,
    RunRecord,
)

__all__ = ["FakeLedgers", "FakeReferenceData", "Tables", "stored"]

M = TypeVar("M", bound=BaseModel)
Subject = tuple[str, str]  # subject type, id


def stored(model: M) -> M:
    """``model`` as a jsonb column gives it back."""
    return type(model).model_validate_json(model.model_dump_json())


@dataclass
class Tables:
    """The rows of time-expense's schema (``migrations/``); every value is immutable."""

    entries: dict[str, tuple[EntryLedger, TimeEntry, str]] = field(default_factory=dict)
    journal: dict[str, JournalLine] = field(default_factory=dict)
    exceptions: dict[Subject, BusinessException] = field(default_factory=dict)
    resolved: set[Subject] = field(default_factory=set)
    expenses: dict[str, ExpenseLedger] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)
    projects: dict[str, tuple[Project, str | None]] = field(default_factory=dict)
    workers: dict[str, Worker] = field(default_factory=dict)
    employments: dict[tuple[str, str, date], Employment] = field(default_factory=dict)
    last_days: dict[str, date] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    rate_cards: dict[str, tuple[RateCard, int]] = field(default_factory=dict)
    cost_rates: dict[tuple[str, date], CostRate] = field(default_factory=dict)
    fx_rates: dict[str, FxRate] = field(default_factory=dict)
    periods: dict[tuple[str, date], AccountingPeriod] = field(default_factory=dict)

    def copy(self) -> Tables:
        """A copy a transaction may change without touching these rows."""
        return Tables(**{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)})


class FakeLedgers(AbstractLedgers):
    """``SqlLedgers`` on ``tables``: ledgers kept and exceptions resolved at ``flush``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self._kept: dict[str, tuple[EntryLedger, TimeEntry, str]] = {}
        self._resolved: set[Subject] = set()

    async def entry(self, entry_id: str) -> EntryLedger | None:
        kept = self._kept.get(entry_id) or self._t.entries.get(entry_id)
        return kept[0] if kept else None

    def keep(self, ledger: EntryLedger, about: TimeEntry, region: str) -> None:
        self._kept[ledger.entry_id] = (ledger, about, region)

    async def journal(self, *lines: JournalLine) -> None:
        for line in lines:
            if line.kind not in ("post", "reversal"):
                raise ValueError(f"postings_kind_check: {line.kind}")
            if line.subject_type not in ("time_entry", "expense"):
                raise ValueError(f"postings_subject_type_check: {line.subject_type}")
            self._t.journal.setdefault(line.key, line)  # ON CONFLICT (key) DO NOTHING

    async def journal_line(self, key: str) -> JournalLine | None:
        return self._t.journal.get(key)

    async def rewritten(self, key: str, erp_id: str) -> None:
        if key in self._t.journal:
            self._t.journal[key] = replace(self._t.journal[key], erp_id=erp_id)

    async def work_dates(self, keys: Sequence[str]) -> dict[str, date]:
        return {key: self._t.journal[key].work_date for key in keys if key in self._t.journal}

    async def priced(self, entry_ids: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
        sums: dict[str, list[Decimal]] = {}
        currencies: dict[str, set[str]] = {}
        for line in self._t.journal.values():
            if line.subject_type != "time_entry" or line.subject_id not in entry_ids:
                continue
            if line.bill_amount is not None:
                sums.setdefault(line.subject_id, []).append(line.bill_amount)
                currencies.setdefault(line.subject_id, set()).add(line.currency)
        # HAVING count(DISTINCT currency) = 1: an entry posted in two currencies has no net.
        return {
            entry_id: (sum(amounts, Decimal(0)), next(iter(currencies[entry_id])))
            for entry_id, amounts in sums.items()
            if len(currencies[entry_id]) == 1
        }

    async def held(self, subject_type: str) -> set[str]:
        unresolved = self._t.exceptions.keys() - self._t.resolved
        return {subject_id for kind, subject_id in unresolved if kind == subject_type}

    async def open_exception(self, exception: BusinessException) -> None:
        subject = (exception.subject_type, exception.subject_id)
        opened = replace(exception, detail=exception.detail[:2000])
        before = self._t.exceptions.get(subject)
        if before is not None:  # the upsert refreshes the finding, not who it is about
            opened = replace(
                before, event_id=opened.event_id, reason=opened.reason, detail=opened.detail,
                retryable=opened.retryable, waiting_for=opened.waiting_for,
            )  # fmt: skip
        self._t.exceptions[subject] = opened
        self._t.resolved.discard(subject)

    def resolve(self, subject_type: str, subject_id: str) -> None:
        self._resolved.add((subject_type, subject_id))

    async def expense(self, expense_id: str) -> ExpenseLedger | None:
        return self._t.expenses.get(expense_id)

    async def save_expense(self, expense: Expense, version: int, stage: str) -> None:
        self._t.expenses[expense.id] = ExpenseLedger(stored(expense), version, stage)

    async def record_run(self, run: RunRecord) -> int:
        if run.trigger not in ("schedule", "request"):
            raise ValueError(f"reconciliation_runs_trigger_check: {run.trigger}")
        if any(kept.run_id == run.run_id for kept in self._t.runs):
            raise ValueError(f"reconciliation_runs_run_id_key: {run.run_id}")
        mismatches = json.loads(json.dumps(run.mismatches))  # a jsonb column
        self._t.runs.append(replace(run, mismatches=mismatches))
        return len(self._t.runs)

    async def flush(self) -> None:
        """Write the kept ledgers and close the resolved exceptions."""
        for entry_id, (ledger, about, region) in self._kept.items():
            posted = ledger.posted and Post(stored(ledger.posted.entry), ledger.posted.version)
            current = ledger.current and stored(ledger.current)
            before = self._t.entries.get(entry_id)
            region = before[2] if before else region  # the upsert leaves the region as it was
            self._t.entries[entry_id] = (
                replace(ledger, current=current, posted=posted),
                about,
                region,
            )
        self._kept.clear()
        self._t.resolved |= self._resolved & self._t.exceptions.keys()
        self._resolved.clear()


class FakeReferenceData(AbstractReferenceData):
    """``SqlReferenceData`` on ``tables`` (its per-transaction cache changes no answer)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def project(self, project_id: str) -> Project | None:
        kept = self._t.projects.get(project_id)
        return kept[0] if kept else None

    async def save_project(self, project: Project, region: str | None = None) -> None:
        before = self._t.projects.get(project.id)
        if region is None and before is not None:  # coalesce(EXCLUDED.region, kept region)
            region = before[1]
        self._t.projects[project.id] = (stored(project), region)

    async def project_region(self, project_id: str) -> str | None:
        kept = self._t.projects.get(project_id)
        return kept[1] if kept else None

    async def entity_region(self, legal_entity_id: str) -> str | None:
        regions = (r for p, r in self._t.projects.values() if p.legal_entity_id == legal_entity_id)
        return next((r for r in regions if r), None)

    async def legal_entities(self) -> list[str]:
        return sorted({project.legal_entity_id for project, _ in self._t.projects.values()})

    async def worker(self, worker_id: str) -> Worker | None:
        return self._t.workers.get(worker_id)

    async def save_worker(self, worker: Worker) -> None:
        self._t.workers[worker.id] = stored(worker)

    async def employments(self, worker_id: str) -> list[Employment]:
        kept = [e for (worker, _, _), e in self._t.employments.items() if worker == worker_id]
        return sorted(kept, key=lambda e: e.starts_on)

    async def save_employment(self, worker_id: str, employment: Employment) -> None:
        self._t.employments[(worker_id, employment.instance, employment.starts_on)] = employment

    async def worker_of_employee(self, instance: str, employee: str) -> str | None:
        return next(
            (worker for (worker, there, _), e in self._t.employments.items()
             if there == instance and e.employee == employee),
            None,
        )  # fmt: skip

    async def last_day(self, worker_id: str) -> date | None:
        return self._t.last_days.get(worker_id)

    async def save_last_day(self, worker_id: str, last_day: date | None) -> None:
        if last_day is None:
            self._t.last_days.pop(worker_id, None)
        else:
            self._t.last_days[worker_id] = last_day

    async def assignments(self, project_id: str, worker_id: str) -> list[Assignment]:
        return [
            a for a in self._t.assignments.values()
            if a.project_id == project_id and a.worker_id == worker_id
        ]  # fmt: skip

    async def save_assignment(self, assignment: Assignment) -> None:
        self._t.assignments[assignment.id] = stored(assignment)

    async def cancel_assignment(self, assignment_id: str) -> None:
        kept = self._t.assignments.get(assignment_id)
        if kept is not None:
            cancelled = kept.model_copy(update={"status": AssignmentStatus.CANCELLED})
            self._t.assignments[assignment_id] = cancelled

    async def rate_cards(self, currency: str) -> list[RateCard]:
        return [card for card, _ in self._t.rate_cards.values() if card.currency == currency]

    async def save_rate_card(self, card: RateCard, version: int) -> None:
        before = self._t.rate_cards.get(card.id)
        if before is None or before[1] <= version:  # WHERE kept.version <= EXCLUDED.version
            self._t.rate_cards[card.id] = (stored(card), version)

    async def cost_rates(self, worker_id: str) -> list[CostRate]:
        return [rate for (worker, _), rate in self._t.cost_rates.items() if worker == worker_id]

    async def save_cost_rate(self, rate: CostRate) -> None:
        if rate.worker_id is not None:
            self._t.cost_rates[(rate.worker_id, rate.effective_from)] = stored(rate)

    async def fx_rates(self, base: str, quote: str, on: date) -> list[FxRate]:
        pair = {(base, quote), (quote, base)}
        rates = [
            r for r in self._t.fx_rates.values()
            if (r.base, r.quote) in pair and r.effective_date <= on
        ]  # fmt: skip
        return sorted(rates, key=lambda r: r.effective_date, reverse=True)[:8]

    async def save_fx_rate(self, rate: FxRate) -> None:
        self._t.fx_rates.setdefault(rate.id, stored(rate))  # ON CONFLICT (rate_id) DO NOTHING

    async def periods(self, legal_entity_id: str, ending_after: date) -> list[AccountingPeriod]:
        return sorted(
            (p for (entity, _), p in self._t.periods.items()
             if entity == legal_entity_id and p.end_date >= ending_after),
            key=lambda p: p.start_date,
        )  # fmt: skip

    async def save_period(self, period: AccountingPeriod) -> None:
        self._t.periods[(period.legal_entity_id, period.start_date)] = stored(period)
