"""What a PSA booking means to the rest of the suite (DOMAIN.md §2.4, §4.1, §4.5, §7.2, §7.5).

A **hard** booking that is **active** is a confirmed assignment; anything else (soft, cancelled)
is not. Confirming it freezes its bill rate, resolved once here from the published rate cards
(``tandem_pricing``: project > account > region > practice > group > tenant, the version in
force on the start date) with its ``rate_source``; the rate the PSA shows on the booking is kept
beside it, never in its place (DOMAIN §7.2: one resolution, one precedence). Only when no card
answers does the PSA's own rate (in the project's currency) stand, its source saying so
(``psa_booking``). The cost rate is the worker's in force on the start date. A worker employed
by another legal entity than the project's, in a pair not allowed, is a warning on the
assignment, not a refusal (§4.5, §7.5).

The rate stays frozen through later changes of the booking unless what it was looked up by
(the role, the start date) changes; a change of the booking's terms re-announces it, a booking
no longer confirmed after it was is cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from staffing_sync.domain.factors import cost_rate_on, intercompany_score
from tandem_contracts import Money
from tandem_contracts.entities import (
    Assignment,
    AssignmentStatus,
    BookingType,
    CostRate,
    Project,
    RateCard,
    RateSource,
)
from tandem_pricing import RateQuery, resolve_bill_rate

__all__ = [
    "PSA_RATE_SOURCE",
    "BookingStep",
    "BookingVersion",
    "BookingWarning",
    "Confirmation",
    "confirm_booking",
    "is_confirmed",
    "next_step",
    "total_minutes",
]

PSA_RATE_SOURCE = "psa_booking"
"""The ``rate_source.scope_level`` of a rate no card answered, taken as the PSA shows it."""
_LIVE_STATUSES = frozenset({"active", "confirmed"})


class BookingWarning(StrEnum):
    """What a resource manager should know about a confirmed assignment."""

    INTERCOMPANY_NOT_ALLOWED = "intercompany_not_allowed"
    RATE_UNRESOLVED = "rate_unresolved"
    PSA_RATE_DIFFERS = "psa_rate_differs"


class BookingStep(StrEnum):
    """What a booking version asks of staffing-sync."""

    CONFIRM = "confirm"
    CANCEL = "cancel"
    NOTHING = "nothing"


@dataclass(frozen=True)
class BookingVersion:
    """A PSA booking in canonical ids: its project, resource, worker, work item and role."""

    assignment_id: str
    version: int
    project_id: str
    resource_id: str
    worker_id: str
    work_item_id: str | None
    role_id: str
    start_date: date
    end_date: date
    minutes_per_day: int
    booking: str
    status: str
    psa_bill_rate: Money | None
    updated_at: datetime

    @property
    def confirmed(self) -> bool:
        """Whether the booking is a confirmed assignment: hard and live."""
        return is_confirmed(self.booking, self.status)


@dataclass(frozen=True)
class Confirmation:
    """The assignment a confirmed booking is, and its warnings."""

    assignment: Assignment
    warnings: tuple[BookingWarning, ...]


def is_confirmed(booking: str, status: str) -> bool:
    """Whether a PSA booking of this type and status is a confirmed assignment."""
    return booking == BookingType.HARD.value and status in _LIVE_STATUSES


def next_step(announced: Assignment | None, booking: BookingVersion) -> BookingStep:
    """Confirm a confirmed booking; cancel one announced that no longer is; else nothing.

    ``announced`` is the assignment last announced confirmed (None: none, or cancelled since).
    Whether a confirmation changes anything is ``confirm_booking``'s answer against it.
    """
    if booking.confirmed:
        return BookingStep.CONFIRM
    return BookingStep.CANCEL if announced is not None else BookingStep.NOTHING


def total_minutes(start: date, end: date, minutes_per_day: int) -> int:
    """The minutes booked from ``start`` to ``end``: ``minutes_per_day`` on each weekday (the
    PSA books working days; a resource's own calendar is the PSA's to apply)."""
    days = (end - start).days + 1
    weeks, rest = divmod(max(days, 0), 7)
    weekdays = weeks * 5 + sum((start + timedelta(d)).weekday() < 5 for d in range(rest))
    return weekdays * minutes_per_day


def confirm_booking(
    booking: BookingVersion,
    project: Project,
    worker_entity: str,
    cards: Iterable[RateCard],
    cost_rates: Iterable[CostRate],
    allowed_pairs: frozenset[tuple[str, str]],
    announced: Assignment | None = None,
) -> Confirmation:
    """The assignment ``booking`` confirms, rated at its start, with its warnings."""
    bill, source = _bill_rate(booking, project, cards, announced)
    cost = cost_rate_on(cost_rates, booking.worker_id, booking.role_id, booking.start_date)
    assignment = Assignment(
        id=booking.assignment_id, project_id=project.id, work_item_id=booking.work_item_id,
        resource_id=booking.resource_id, worker_id=booking.worker_id, role_id=booking.role_id,
        start_date=booking.start_date, end_date=booking.end_date,
        total_minutes=total_minutes(booking.start_date, booking.end_date, booking.minutes_per_day),
        minutes_per_day=booking.minutes_per_day, booking_type=BookingType.HARD,
        bill_rate=bill, rate_source=source, cost_rate=cost.hourly_cost if cost else None,
        status=AssignmentStatus.CONFIRMED,
    )  # fmt: skip
    return Confirmation(assignment, _warnings(booking, project, worker_entity, allowed_pairs, bill))


def _bill_rate(
    booking: BookingVersion,
    project: Project,
    cards: Iterable[RateCard],
    announced: Assignment | None,
) -> tuple[Money | None, RateSource | None]:
    frozen = announced is not None and (announced.role_id, announced.start_date) == (
        booking.role_id, booking.start_date,
    )  # fmt: skip
    if frozen and announced is not None and announced.bill_rate is not None:
        return announced.bill_rate, announced.rate_source
    query = RateQuery(
        project_id=project.id, account_id=project.customer_id, role_id=booking.role_id,
        currency=project.currency, on=booking.start_date,
        org_unit_ids=frozenset(project.org_unit_ids),
    )  # fmt: skip
    resolved = resolve_bill_rate(cards, query)
    if resolved is not None:
        return resolved.rate, resolved.source
    shown = booking.psa_bill_rate
    if shown is not None and shown.currency == project.currency:
        return shown, RateSource(scope_level=PSA_RATE_SOURCE, role_id=booking.role_id)
    return None, None


def _warnings(
    booking: BookingVersion,
    project: Project,
    worker_entity: str,
    allowed_pairs: frozenset[tuple[str, str]],
    bill: Money | None,
) -> tuple[BookingWarning, ...]:
    warnings: list[BookingWarning] = []
    _, _, not_allowed = intercompany_score(worker_entity, project.legal_entity_id, allowed_pairs)
    if not_allowed:
        warnings.append(BookingWarning.INTERCOMPANY_NOT_ALLOWED)
    if bill is None:
        warnings.append(BookingWarning.RATE_UNRESOLVED)
    elif booking.psa_bill_rate is not None and booking.psa_bill_rate != bill:
        warnings.append(BookingWarning.PSA_RATE_DIFFERS)
    return tuple(warnings)
