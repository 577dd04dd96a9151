"""How a worker's month is spent: which days they book, and how each day splits across projects."""

from __future__ import annotations

import random
from datetime import date

from tandem_contracts.entities import Assignment, Project
from tandem_sandbox.scenario._catalog import HOLIDAYS

__all__ = ["split_day", "working_days"]

_DAY_LENGTHS = tuple(range(360, 541, 15))
# Most days are eight hours; long and short days thin out on either side.
_DAY_WEIGHTS = tuple(12 - abs(minutes - 480) // 15 for minutes in _DAY_LENGTHS)


def working_days(
    rng: random.Random, weekdays: tuple[date, ...], country: str, window: tuple[date, date]
) -> list[date]:
    """Return the weekdays in ``window`` that are not public holidays or the worker's leave."""
    holidays = HOLIDAYS.get(country, ())
    return [
        day
        for day in weekdays
        if window[0] <= day <= window[1]
        and (day.month, day.day) not in holidays
        and rng.random() >= 0.04
    ]


def split_day(
    rng: random.Random, day: date, assignments: list[Assignment], projects: dict[str, Project]
) -> list[tuple[Assignment, int]]:
    """Split a 6-9 hour day, in quarter hours, across 1-3 of the assignments live on ``day``."""
    live = [
        a
        for a in assignments
        if a.start_date <= day <= a.end_date and _open(projects[a.project_id], day)
    ]
    if not live:
        return []
    count = min(len(live), rng.choices((1, 2, 3), (50, 35, 15))[0])
    chosen: list[Assignment] = []
    while len(chosen) < count:
        pool = [a for a in live if all(a is not c for c in chosen)]
        chosen.append(rng.choices(pool, [a.minutes_per_day or 60 for a in pool])[0])
    # At least half an hour on each project booked that day; the rest cut at random points.
    spare = rng.choices(_DAY_LENGTHS, _DAY_WEIGHTS)[0] // 15 - 2 * count
    cuts = [0, *sorted(rng.randint(0, spare) for _ in range(count - 1)), spare]
    return [(a, (2 + hi - lo) * 15) for a, lo, hi in zip(chosen, cuts, cuts[1:], strict=False)]


def _open(project: Project, day: date) -> bool:
    start, end = project.start_date, project.end_date
    return (start is None or start <= day) and (end is None or day <= end)
