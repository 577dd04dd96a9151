"""Deterministic ids, random streams and calendar arithmetic shared by every builder."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

__all__ = ["Context", "add_months", "month_end"]


def add_months(first: date, months: int) -> date:
    """Return the first day of the month ``months`` after ``first``'s month."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(first: date) -> date:
    """Return the last day of ``first``'s month."""
    return add_months(first, 1) - timedelta(days=1)


class Context:
    """The seed, the month and an id mint; one instance per ``generate`` call."""

    def __init__(self, seed: int, month: date) -> None:
        self.seed = seed
        self.month = month
        self.month_end = month_end(month)
        self.days = tuple(month + timedelta(days=n) for n in range(self.month_end.day))
        self.weekdays = tuple(day for day in self.days if day.weekday() < 5)
        # Ids look like UUIDv7 stamped at the month's start plus a counter, so they sort in
        # creation order and never depend on the clock.
        self._id_rng = random.Random(f"{seed}:ids")  # noqa: S311 - reproducible, not secret
        self._id_ms = int(datetime.combine(month, time(), UTC).timestamp() * 1000)
        self._id_count = 0

    def rng(self, stream: str) -> random.Random:
        """Return an independent random stream, so one builder's draws never shift another's."""
        return random.Random(f"{self.seed}:{stream}")  # noqa: S311 - reproducible, not secret

    def new_id(self) -> str:
        """Mint the next id: a version-7, RFC 4122 variant UUID string."""
        self._id_count += 1
        ms = (self._id_ms + self._id_count) & ((1 << 48) - 1)
        value = ms << 80 | self._id_rng.getrandbits(80)
        value = value & ~(0xF << 76) | (0x7 << 76)
        value = value & ~(0x3 << 62) | (0x2 << 62)
        return str(uuid.UUID(int=value))

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """Return a UTC instant on ``day``."""
        return datetime.combine(day, time(hour, minute), UTC)
