"""A candidate's free minutes per day over a request's dates (DOMAIN.md §2.2 WorkCalendar, §2.4).

Capacity comes from the resource's weekly capacity spread over its working days, less holidays
and the days before the hire or after the last day; approved time off and existing bookings come
off it. Hard bookings count in full. Soft (tentative) bookings count at ``soft_booking_pct``
percent: 0 treats them as free time, 100 as firm; the default 50 reflects that a resource manager
can usually move a tentative booking but not without a conversation. A day never goes below 0:
an overbooked Monday does not eat Tuesday's time.

The share of a request covered is total-based (free minutes over the dates against the requested
minutes), as Kantata and Runn show availability for a date range: demand in ``minutes`` over
``start..end`` does not say how it is spread over the days.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import NamedTuple

from tandem_contracts.entities import Assignment, AssignmentStatus, BookingType

__all__ = [
    "DEFAULT_SOFT_BOOKING_PCT",
    "Availability",
    "Booking",
    "DayAvailability",
    "TimeOff",
    "WorkCalendar",
    "availability_of",
    "booking_of",
]

DEFAULT_SOFT_BOOKING_PCT = 50
_CENTI = 100
"""Booked minutes are kept in hundredths: a soft booking's weight is a whole percentage."""
_FULL_WEEK = 7
_LIVE = frozenset({AssignmentStatus.PROPOSED, AssignmentStatus.CONFIRMED, AssignmentStatus.ACTIVE})


@dataclass(frozen=True)
class WorkCalendar:
    """Minutes worked per weekday (Monday first), holidays, and the employment window.

    ``employed_from``/``employed_to`` are the hire date and the last day: a future-dated hire is
    staffable from the day they start, a leaver up to their last day, never after.
    """

    weekday_minutes: tuple[int, int, int, int, int, int, int]
    holidays: frozenset[date] = frozenset()
    employed_from: date | None = None
    employed_to: date | None = None

    def __post_init__(self) -> None:
        if any(minutes < 0 for minutes in self.weekday_minutes):
            raise ValueError("a calendar's minutes per weekday are never negative")

    @classmethod
    def weekly(
        cls,
        minutes_per_week: int,
        working_days: int = 5,
        *,
        holidays: Iterable[date] = (),
        employed_from: date | None = None,
        employed_to: date | None = None,
    ) -> WorkCalendar:
        """Spread ``minutes_per_week`` over the first ``working_days`` weekdays, exactly.

        2,400 minutes over 5 days is 480 a day; a remainder goes to the first days, so a week
        always adds up to the resource's capacity.
        """
        if not 1 <= working_days <= _FULL_WEEK or minutes_per_week < 0:
            raise ValueError("a week has 1 to 7 working days and non-negative capacity")
        base, extra = divmod(minutes_per_week, working_days)
        days = [base + (1 if i < extra else 0) for i in range(working_days)]
        days += [0] * (_FULL_WEEK - working_days)
        return cls(
            (days[0], days[1], days[2], days[3], days[4], days[5], days[6]),
            frozenset(holidays),
            employed_from,
            employed_to,
        )

    def capacity_on(self, day: date) -> int:
        """Minutes the resource can work on ``day`` (0 on holidays and outside employment)."""
        if day in self.holidays:
            return 0
        if self.employed_from is not None and day < self.employed_from:
            return 0
        if self.employed_to is not None and day > self.employed_to:
            return 0
        return self.weekday_minutes[day.weekday()]


@dataclass(frozen=True)
class TimeOff:
    """Approved leave: ``minutes`` off on ``day`` (a full day is the day's capacity or more)."""

    day: date
    minutes: int


@dataclass(frozen=True)
class Booking:
    """An existing booking of the candidate: ``minutes_per_day`` on each working day in its
    dates, or else ``total_minutes`` spread evenly over those working days (Kantata's shape)."""

    start_date: date
    end_date: date
    booking_type: BookingType
    minutes_per_day: int | None = None
    total_minutes: int = 0
    billable: bool = True


def booking_of(assignment: Assignment) -> Booking | None:
    """The booking an assignment puts on its resource, or None once cancelled or completed."""
    if assignment.status not in _LIVE:
        return None
    return Booking(
        assignment.start_date,
        assignment.end_date,
        assignment.booking_type,
        assignment.minutes_per_day,
        assignment.total_minutes,
        assignment.billable,
    )


class DayAvailability(NamedTuple):
    """One day: capacity, time off, booked and billable-booked minutes (soft ones weighted),
    kept in hundredths of a minute so that summing a month of days stays integer arithmetic.

    A named tuple rather than a frozen dataclass: ranking builds a month of these for every
    candidate on the bench, and a tuple is several times cheaper to build.
    """

    day: date
    capacity: int
    time_off: int
    booked_centi: int
    billable_centi: int

    @property
    def booked(self) -> Fraction:
        """Minutes booked (soft bookings at their weight)."""
        return Fraction(self.booked_centi, _CENTI)

    @property
    def net_capacity(self) -> int:
        """Capacity left after time off: the utilization denominator."""
        return max(0, self.capacity - self.time_off)

    @property
    def available(self) -> int:
        """Free minutes, whole and never negative (a partial minute is not bookable)."""
        return max(0, (self.net_capacity * _CENTI - self.booked_centi) // _CENTI)


@dataclass(frozen=True)
class Availability:
    """A candidate's days over a request's dates, with their totals."""

    days: tuple[DayAvailability, ...]
    available_minutes: int
    """Free minutes over the dates."""
    net_capacity: int
    """Minutes the candidate works over the dates, after time off."""
    billable_centi: int

    @classmethod
    def of(cls, days: Iterable[DayAvailability]) -> Availability:
        """The days and their totals."""
        found = tuple(days)
        return cls(
            found,
            sum(day.available for day in found),
            sum(day.net_capacity for day in found),
            sum(day.billable_centi for day in found),
        )

    @property
    def utilization(self) -> Fraction:
        """Billable booked minutes over net capacity (0 when there is no capacity at all)."""
        if self.net_capacity == 0:
            return Fraction(0)
        return min(Fraction(1), Fraction(self.billable_centi, self.net_capacity * _CENTI))

    def coverage(self, requested_minutes: int) -> Fraction:
        """The share of ``requested_minutes`` the free minutes cover, 0 to 1."""
        if requested_minutes <= 0:
            return Fraction(1)
        return Fraction(min(self.available_minutes, requested_minutes), requested_minutes)


def availability_of(
    calendar: WorkCalendar,
    start: date,
    end: date,
    *,
    time_off: Iterable[TimeOff] = (),
    bookings: Iterable[Booking] = (),
    soft_booking_pct: int = DEFAULT_SOFT_BOOKING_PCT,
) -> Availability:
    """Per-day availability from ``start`` to ``end`` inclusive."""
    if not 0 <= soft_booking_pct <= 100:
        raise ValueError("soft_booking_pct is a percentage, 0 to 100")
    if end < start:
        raise ValueError("a request ends on or after its start")
    off: dict[date, int] = {}
    for leave in time_off:
        off[leave.day] = off.get(leave.day, 0) + leave.minutes
    booked: dict[date, int] = {}
    billable: dict[date, int] = {}
    for booking in bookings:
        weight = _CENTI if booking.booking_type is BookingType.HARD else soft_booking_pct
        for day, centi in _spread(booking, calendar, start, end, weight):
            booked[day] = booked.get(day, 0) + centi
            if booking.billable:
                billable[day] = billable.get(day, 0) + centi
    return Availability.of(
        DayAvailability(
            day,
            capacity := calendar.capacity_on(day),
            min(off.get(day, 0), capacity),
            booked.get(day, 0),
            billable.get(day, 0),
        )
        for day in _days(start, end)
    )


def _days(start: date, end: date) -> Iterator[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def _spread(
    booking: Booking, calendar: WorkCalendar, start: date, end: date, weight_pct: int
) -> Iterator[tuple[date, int]]:
    """The booking's weighted hundredths of a minute on each of its working days within
    ``start..end``; a total spread over the days is rounded down, never booking more than it
    says."""
    if booking.end_date < start or booking.start_date > end:
        return
    working = [d for d in _days(booking.start_date, booking.end_date) if calendar.capacity_on(d)]
    if booking.minutes_per_day is not None:
        per_day = booking.minutes_per_day * weight_pct
    elif working:
        per_day = booking.total_minutes * weight_pct // len(working)
    else:
        return
    for day in working:
        if start <= day <= end:
            yield day, per_day
