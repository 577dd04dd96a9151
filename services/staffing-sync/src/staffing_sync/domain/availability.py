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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from tandem_contracts.entities import Assignment, AssignmentStatus, BookingType

__all__ = [
    "DEFAULT_SOFT_BOOKING_PCT",
    "LIVE_STATUSES",
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
LIVE_STATUSES = frozenset(
    {AssignmentStatus.PROPOSED, AssignmentStatus.CONFIRMED, AssignmentStatus.ACTIVE}
)
"""An assignment in one of these takes the resource's time; cancelled or completed, none."""


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


class Booking(NamedTuple):
    """An existing booking of the candidate: ``minutes_per_day`` on each working day in its
    dates, or else ``total_minutes`` spread evenly over those working days (Kantata's shape).
    A named tuple: the read model builds one per booking of every candidate per request."""

    start_date: date
    end_date: date
    booking_type: BookingType
    minutes_per_day: int | None = None
    total_minutes: int = 0
    billable: bool = True


def booking_of(assignment: Assignment) -> Booking | None:
    """The booking an assignment puts on its resource, or None once cancelled or completed."""
    if assignment.status not in LIVE_STATUSES:
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
    """A candidate's totals over a request's dates, and its days (``days``) on demand.

    Ranking a bench of thousands needs only the totals; the days are kept as four columns of
    whole numbers (capacity, time off, booked and billable hundredths, one entry per day from
    ``start``) and turned into ``DayAvailability`` rows only when asked for.
    """

    available_minutes: int
    """Free minutes over the dates."""
    net_capacity: int
    """Minutes the candidate works over the dates, after time off."""
    billable_centi: int
    start: date | None = None
    columns: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]] = (
        (), (), (), (),
    )  # fmt: skip

    @classmethod
    def of(cls, days: Iterable[DayAvailability]) -> Availability:
        """The days and their totals."""
        found = tuple(days)
        return cls(
            sum(day.available for day in found),
            sum(day.net_capacity for day in found),
            sum(day.billable_centi for day in found),
            found[0].day if found else None,
            (
                tuple(d.capacity for d in found),
                tuple(d.time_off for d in found),
                tuple(d.booked_centi for d in found),
                tuple(d.billable_centi for d in found),
            ),
        )

    @property
    def days(self) -> tuple[DayAvailability, ...]:
        """Each day from ``start``: capacity, time off, booked and billable hundredths."""
        if self.start is None:
            return ()
        first = self.start
        return tuple(
            DayAvailability(first + timedelta(days=i), *day)
            for i, day in enumerate(zip(*self.columns, strict=True))
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
    employed_from: date | None = None,
    employed_to: date | None = None,
) -> Availability:
    """Per-day availability from ``start`` to ``end`` inclusive; ``employed_from`` and
    ``employed_to`` narrow the calendar's employment window further (a worker's hire date and
    last day, without a calendar made per worker).

    Written for a bench of thousands: one list per column rather than an object per day, and a
    booking's working days counted by whole weeks rather than day by day (a booking of a year
    costs what a booking of a week does).
    """
    if not 0 <= soft_booking_pct <= 100:
        raise ValueError("soft_booking_pct is a percentage, 0 to 100")
    if end < start:
        raise ValueError("a request ends on or after its start")
    window = _Window(
        max(filter(None, (calendar.employed_from, employed_from)), default=None),
        min(filter(None, (calendar.employed_to, employed_to)), default=None),
    )
    capacity = _capacities(calendar, window.within(start, end), start, end)
    n = len(capacity)
    zeros = (0,) * n
    if not time_off and not bookings:  # nothing takes time: all of it free
        total = sum(capacity)
        return Availability(total, total, 0, start, (capacity, zeros, zeros, zeros))
    off = [0] * n
    for leave in time_off:
        i = (leave.day - start).days
        if 0 <= i < n:
            off[i] += leave.minutes
    booked = [0] * n
    billable = [0] * n
    lo, hi = n, 0  # the days any booking touches
    for booking in bookings:
        if booking.end_date < start or booking.start_date > end:
            continue
        weight = _CENTI if booking.booking_type is BookingType.HARD else soft_booking_pct
        if booking.minutes_per_day is not None:
            per_day = booking.minutes_per_day * weight
        else:
            working = _working_days(calendar, window, booking.start_date, booking.end_date)
            if not working:
                continue
            per_day = booking.total_minutes * weight // working
        first = max(0, (booking.start_date - start).days)
        last = min(n, (booking.end_date - start).days + 1)
        days = capacity[first:last]  # a day off takes no booking
        booked[first:last] = [
            b + per_day if c else b for b, c in zip(booked[first:last], days, strict=True)
        ]
        if booking.billable:
            billable[first:last] = [
                b + per_day if c else b for b, c in zip(billable[first:last], days, strict=True)
            ]
        lo, hi = min(lo, first), max(hi, last)
    taken: Sequence[int] = zeros  # no time off: nothing taken, all of it net
    net: Sequence[int] = capacity
    if any(off):
        taken = [min(o, c) for o, c in zip(off, capacity, strict=True)]
        net = [c - t for c, t in zip(capacity, taken, strict=True)]
    free = sum(net)
    if lo < hi:  # a day never goes below zero: per booked day, not total minus total
        free += sum(
            max(0, (m * _CENTI - b) // _CENTI) - m
            for m, b in zip(net[lo:hi], booked[lo:hi], strict=True)
        )
    return Availability(
        free, sum(net), sum(billable), start,
        (capacity, tuple(taken), tuple(booked), tuple(billable)),
    )  # fmt: skip


class _Window(NamedTuple):
    """The employment window availability is computed in: first and last day employed."""

    first: date | None
    last: date | None

    def within(self, start: date, end: date) -> _Window:
        """The window as it bears on ``start..end`` (None: no bound inside it), so that every
        worker employed throughout shares one capacity row."""
        first = self.first if self.first is not None and self.first > start else None
        last = self.last if self.last is not None and self.last < end else None
        return _Window(first, last)


@lru_cache(maxsize=4096)
def _capacities(calendar: WorkCalendar, window: _Window, start: date, end: date) -> tuple[int, ...]:
    """``calendar.capacity_on`` each day from ``start`` to ``end`` within ``window``, without
    a call per day; the same calendar, window and dates answer the same row (cached)."""
    n = (end - start).days + 1
    weekday, minutes = start.weekday(), calendar.weekday_minutes
    capacity = [minutes[(weekday + i) % _FULL_WEEK] for i in range(n)]
    if window.first is not None and window.first > start:
        hired = min(n, (window.first - start).days)
        capacity[:hired] = [0] * hired
    if window.last is not None and window.last < end:
        left = max(0, (window.last - start).days + 1)
        capacity[left:] = [0] * (n - left)
    for holiday in calendar.holidays:
        i = (holiday - start).days
        if 0 <= i < n:
            capacity[i] = 0
    return tuple(capacity)


def _working_days(calendar: WorkCalendar, window: _Window, first: date, last: date) -> int:
    """How many days from ``first`` to ``last`` the calendar has capacity on: whole weeks
    counted at once, the employment window and holidays applied."""
    if window.first is not None:
        first = max(first, window.first)
    if window.last is not None:
        last = min(last, window.last)
    if last < first:
        return 0
    minutes = calendar.weekday_minutes
    weeks, rest = divmod((last - first).days + 1, _FULL_WEEK)
    count = weeks * sum(1 for m in minutes if m)
    count += sum(1 for i in range(rest) if minutes[(first.weekday() + i) % _FULL_WEEK])
    count -= sum(1 for h in calendar.holidays if first <= h <= last and minutes[h.weekday()])
    return count
