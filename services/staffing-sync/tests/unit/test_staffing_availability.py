"""Free minutes per day: capacity, holidays, hire and last day, leave, hard and soft bookings."""

from datetime import date, timedelta
from fractions import Fraction

import pytest

from staffing_sync.domain.availability import (
    Booking,
    TimeOff,
    WorkCalendar,
    availability_of,
    booking_of,
)
from tandem_contracts.entities import Assignment, AssignmentStatus, BookingType

MONDAY, FRIDAY = date(2026, 3, 2), date(2026, 3, 6)
NEXT_FRIDAY = date(2026, 3, 13)
FORTY_HOURS = WorkCalendar.weekly(2400)


def test_forty_hours_a_week_is_eight_hours_monday_to_friday() -> None:
    assert FORTY_HOURS.weekday_minutes == (480, 480, 480, 480, 480, 0, 0)
    # A four-day week of 30 hours: 450 minutes a day, exactly 1,800 over the week.
    four_days = WorkCalendar.weekly(1800, working_days=4)
    assert four_days.weekday_minutes == (450, 450, 450, 450, 0, 0, 0)
    # An uneven week gives the remainder to its first days and still adds up.
    assert sum(WorkCalendar.weekly(2402).weekday_minutes) == 2402


def test_a_free_fortnight_is_eighty_hours_and_covers_a_forty_hour_request() -> None:
    fortnight = availability_of(FORTY_HOURS, MONDAY, NEXT_FRIDAY)
    assert fortnight.available_minutes == 80 * 60
    assert fortnight.coverage(40 * 60) == 1
    assert fortnight.coverage(160 * 60) == Fraction(1, 2)


def test_a_holiday_and_a_half_day_off_come_off_capacity() -> None:
    calendar = WorkCalendar.weekly(2400, holidays=[date(2026, 3, 4)])
    week = availability_of(calendar, MONDAY, FRIDAY, time_off=[TimeOff(date(2026, 3, 5), 240)])
    assert [day.available for day in week.days] == [480, 480, 0, 240, 480]
    assert week.available_minutes == 28 * 60


def test_leave_longer_than_the_day_does_not_eat_the_next_day() -> None:
    week = availability_of(FORTY_HOURS, MONDAY, FRIDAY, time_off=[TimeOff(MONDAY, 900)])
    assert week.days[0].available == 0
    assert week.days[0].net_capacity == 0
    assert week.available_minutes == 4 * 480


def test_a_future_hire_and_a_leaver_are_staffable_only_while_employed() -> None:
    calendar = WorkCalendar.weekly(
        2400, employed_from=date(2026, 3, 4), employed_to=date(2026, 3, 10)
    )
    fortnight = availability_of(calendar, MONDAY, NEXT_FRIDAY)
    # Wednesday to Friday, then Monday and Tuesday of the second week: five days.
    assert fortnight.available_minutes == 5 * 480
    assert [d.day for d in fortnight.days if d.available] == [
        date(2026, 3, 4),
        date(2026, 3, 5),
        date(2026, 3, 6),
        date(2026, 3, 9),
        date(2026, 3, 10),
    ]


def test_a_hard_booking_counts_in_full_and_a_soft_one_at_the_setting() -> None:
    hard = Booking(MONDAY, FRIDAY, BookingType.HARD, minutes_per_day=360)
    soft = Booking(MONDAY, FRIDAY, BookingType.SOFT, minutes_per_day=360)
    assert availability_of(FORTY_HOURS, MONDAY, FRIDAY, bookings=[hard]).available_minutes == 600
    # Tentative work at the default 50%: 3 of the 6 hours a day count.
    assert availability_of(FORTY_HOURS, MONDAY, FRIDAY, bookings=[soft]).available_minutes == 1500
    ignored = availability_of(FORTY_HOURS, MONDAY, FRIDAY, bookings=[soft], soft_booking_pct=0)
    firm = availability_of(FORTY_HOURS, MONDAY, FRIDAY, bookings=[soft], soft_booking_pct=100)
    assert (ignored.available_minutes, firm.available_minutes) == (2400, 600)


def test_total_minutes_spread_over_the_bookings_working_days_only() -> None:
    # 40 hours from Wednesday to the next Tuesday: five working days, 8 hours each; the
    # first week (Monday to Friday) sees Wednesday to Friday booked.
    booking = Booking(date(2026, 3, 4), date(2026, 3, 10), BookingType.HARD, total_minutes=2400)
    week = availability_of(FORTY_HOURS, MONDAY, FRIDAY, bookings=[booking])
    assert [day.available for day in week.days] == [480, 480, 0, 0, 0]


def test_an_overbooked_day_is_zero_not_negative() -> None:
    double = Booking(MONDAY, MONDAY, BookingType.HARD, minutes_per_day=720)
    day = availability_of(FORTY_HOURS, MONDAY, MONDAY, bookings=[double])
    assert day.available_minutes == 0
    assert day.utilization == 1


def test_utilization_counts_billable_bookings_against_capacity_after_leave() -> None:
    billable = Booking(MONDAY, FRIDAY, BookingType.HARD, minutes_per_day=240)
    internal = Booking(MONDAY, FRIDAY, BookingType.HARD, minutes_per_day=120, billable=False)
    week = availability_of(
        FORTY_HOURS, MONDAY, FRIDAY, bookings=[billable, internal], time_off=[TimeOff(FRIDAY, 480)]
    )
    # 20 billable hours over 32 working hours: Friday's booking still counts though Friday is
    # off, the work has to be done some day; the internal hours do not count at all.
    assert week.utilization == Fraction(20, 32)
    assert week.available_minutes == 4 * 120


def test_bookings_outside_the_dates_change_nothing() -> None:
    before = Booking(MONDAY - timedelta(days=7), MONDAY - timedelta(days=1), BookingType.HARD, 480)
    week = availability_of(FORTY_HOURS, MONDAY, FRIDAY, bookings=[before])
    assert week.available_minutes == 2400


def assignment(status: AssignmentStatus) -> Assignment:
    return Assignment(
        id="asg-1",
        project_id="prj-1",
        resource_id="res-1",
        role_id="role-consultant",
        start_date=MONDAY,
        end_date=FRIDAY,
        total_minutes=1200,
        booking_type=BookingType.SOFT,
        status=status,
    )


def test_a_live_assignment_is_a_booking_and_a_cancelled_one_is_not() -> None:
    booking = booking_of(assignment(AssignmentStatus.CONFIRMED))
    assert booking == Booking(MONDAY, FRIDAY, BookingType.SOFT, None, 1200, True)
    assert booking_of(assignment(AssignmentStatus.CANCELLED)) is None
    assert booking_of(assignment(AssignmentStatus.COMPLETED)) is None


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="percentage"):
        availability_of(FORTY_HOURS, MONDAY, FRIDAY, soft_booking_pct=120)
    with pytest.raises(ValueError, match="ends on or after"):
        availability_of(FORTY_HOURS, FRIDAY, MONDAY)
    with pytest.raises(ValueError, match="working days"):
        WorkCalendar.weekly(2400, working_days=0)
