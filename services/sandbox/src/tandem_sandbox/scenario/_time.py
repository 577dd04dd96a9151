"""Weekly timesheets and the daily time entries in them, with frozen rates and approvals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby

from tandem_contracts import Money
from tandem_contracts.entities import (
    ApprovalStep,
    Assignment,
    Project,
    RateSource,
    TimeEntry,
    TimeEntryStatus,
    Timesheet,
    TimesheetStatus,
    Worker,
    WorkItem,
)
from tandem_sandbox.scenario._catalog import NOTES
from tandem_sandbox.scenario._compensation import effective
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._days import split_day, working_days
from tandem_sandbox.scenario._people import People
from tandem_sandbox.scenario._portfolio import Portfolio
from tandem_sandbox.scenario._ratecards import RateBook
from tandem_sandbox.scenario._staffing import Staffing

__all__ = ["Timekeeping", "build_time"]

_ENTRY_STATUS = {
    TimesheetStatus.OPEN: TimeEntryStatus.DRAFT,
    TimesheetStatus.SUBMITTED: TimeEntryStatus.SUBMITTED,
    TimesheetStatus.APPROVED: TimeEntryStatus.APPROVED,
    TimesheetStatus.REJECTED: TimeEntryStatus.REJECTED,
}


@dataclass(frozen=True)
class Timekeeping:
    """Timesheets and time entries, in creation order."""

    timesheets: tuple[Timesheet, ...]
    entries: tuple[TimeEntry, ...]


class _Clerk:
    """Books one worker-week at a time, caching rate lookups across the whole month."""

    def __init__(self, ctx: Context, people: People, portfolio: Portfolio, book: RateBook) -> None:
        self.ctx, self.people, self.portfolio, self.book = ctx, people, portfolio, book
        self.rng = ctx.rng("time")
        self.projects = {p.id: p for p in portfolio.projects}
        self.heads = [w.id for w in people.workers if w.manager_id is None]
        self._rates: dict[tuple[str, str, date], tuple[Money, RateSource]] = {}
        self.sheets: list[Timesheet] = []
        self.entries: list[TimeEntry] = []

    def book_worker(self, worker: Worker, assignments: list[Assignment]) -> None:
        window = self.people.window[worker.id]
        days = working_days(self.rng, self.ctx.weekdays, worker.work_country, window)
        for monday, week in groupby(days, key=_monday):
            booked = [
                (d, a, m)
                for d in week
                for a, m in split_day(self.rng, d, assignments, self.projects)
            ]
            if booked:
                self._book_week(worker, monday, booked)

    def _book_week(
        self, worker: Worker, monday: date, booked: list[tuple[date, Assignment, int]]
    ) -> None:
        sunday = monday + timedelta(days=6)
        status = self._sheet_status(sunday)
        sheet = Timesheet(
            id=self.ctx.new_id(),
            worker_id=worker.id,
            period_start=monday,
            period_end=sunday,
            status=status,
            approvals=self._approvals(worker, status, sunday),
        )
        self.sheets.append(sheet)
        rejected_project = booked[-1][1].project_id
        for day, assignment, minutes in booked:
            entry_status = _ENTRY_STATUS.get(status)
            if entry_status is None:  # partially approved: one project's time sent back
                entry_status = (
                    TimeEntryStatus.REJECTED
                    if assignment.project_id == rejected_project
                    else TimeEntryStatus.APPROVED
                )
            self.entries.append(
                self._entry(worker, sheet.id, day, assignment, minutes, entry_status)
            )

    def _sheet_status(self, sunday: date) -> TimesheetStatus:
        if sunday >= self.ctx.month_end - timedelta(days=1):
            # The month's last week is still being filled in and approved.
            return self.rng.choices(
                (TimesheetStatus.APPROVED, TimesheetStatus.SUBMITTED, TimesheetStatus.OPEN),
                (50, 30, 20),
            )[0]
        return self.rng.choices(
            (
                TimesheetStatus.APPROVED,
                TimesheetStatus.SUBMITTED,
                TimesheetStatus.REJECTED,
                TimesheetStatus.PARTIALLY_APPROVED,
            ),
            (88, 6, 4, 2),
        )[0]

    def _approvals(
        self, worker: Worker, status: TimesheetStatus, sunday: date
    ) -> tuple[ApprovalStep, ...]:
        if status in (TimesheetStatus.OPEN, TimesheetStatus.SUBMITTED):
            return ()
        approver = worker.manager_id or next(h for h in self.heads if h != worker.id)
        at = self.ctx.at(
            sunday + timedelta(days=self.rng.randint(1, 3)),
            self.rng.randint(8, 17),
            self.rng.choice((0, 15, 30, 45)),
        )
        return (ApprovalStep(step=1, approver_id=approver, decision=status, at=at),)

    def _entry(
        self,
        worker: Worker,
        sheet_id: str,
        day: date,
        assignment: Assignment,
        minutes: int,
        status: TimeEntryStatus,
    ) -> TimeEntry:
        project = self.projects[assignment.project_id]
        task = self._task(project, day)
        bill, source = self._rate(project, assignment.role_id, day)
        cost = effective(self.people.rates_of[worker.id], day)
        return TimeEntry(
            id=self.ctx.new_id(),
            timesheet_id=sheet_id,
            worker_id=worker.id,
            worker_legal_entity_id=worker.legal_entity_id,
            project_id=project.id,
            project_legal_entity_id=project.legal_entity_id,
            work_item_id=task.id if task else None,
            assignment_id=assignment.id,
            role_id=assignment.role_id,
            work_date=day,
            duration_minutes=minutes,
            billable=project.flags.billable and (task is None or task.billable),
            notes=self.rng.choice(NOTES) if self.rng.random() < 0.07 else None,
            bill_rate=bill,
            rate_source=source,
            cost_rate=cost.hourly_cost if cost else None,
            status=status,
        )

    def _task(self, project: Project, day: date) -> WorkItem | None:
        tasks = self.portfolio.tasks_of.get(project.id, [])
        current = [
            t for t in tasks if t.start_date and t.due_date and t.start_date <= day <= t.due_date
        ]
        return self.rng.choice(current or tasks) if tasks else None

    def _rate(self, project: Project, role_id: str, day: date) -> tuple[Money, RateSource]:
        card, level = self.portfolio.card_of[project.id]
        key = (card.id, role_id, day)
        if key not in self._rates:
            self._rates[key] = self.book.rate(card, level, role_id, day)
        return self._rates[key]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def build_time(
    ctx: Context, people: People, portfolio: Portfolio, staffing: Staffing, book: RateBook
) -> Timekeeping:
    """Book every available worker's weekdays in the month onto their assignments."""
    clerk = _Clerk(ctx, people, portfolio, book)
    for worker in people.workers:
        assignments = staffing.of_worker.get(worker.id)
        if worker.id in people.window and assignments:
            clerk.book_worker(worker, assignments)
    return Timekeeping(tuple(clerk.sheets), tuple(clerk.entries))
