"""Fault injection state of one system: its configuration, seeded dice and fault counters.

Request faults (error rate) are Bernoulli draws from a ``random.Random`` seeded by the
configuration, so the same seed and the same request sequence inject the same faults.
Delivery faults (webhook drop, duplicate, reorder; feed duplicate, reorder) use an
accumulator with a seeded phase: over N deliveries exactly floor or ceil of N * pct / 100 are
affected, so a test can assert the configured counts, not just a tendency.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Dice", "FaultConfig", "RateLimit", "SystemFaults", "TokenBucket"]

Pct = Field(default=0.0, ge=0, le=100)


class RateLimit(BaseModel):
    """A token bucket: ``rate`` requests per second on average, bursts up to ``burst``."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0, le=100_000)
    burst: int = Field(ge=1, le=100_000)


class FaultConfig(BaseModel):
    """Everything a system may be told to get wrong; all off by default."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 7
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=503, ge=500, le=599)
    rate_limit: RateLimit | None = None
    concurrency_limit: int | None = Field(default=None, ge=1, le=10_000)
    webhook_drop_pct: float = Pct
    webhook_duplicate_pct: float = Pct
    webhook_reorder_pct: float = Pct
    feed_duplicate_pct: float = Pct
    feed_reorder_pct: float = Pct


@dataclass
class TokenBucket:
    """A server-side bucket: ``take`` spends a token or answers the seconds until one exists."""

    rate: float
    burst: int
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()

    def take(self) -> float | None:
        """Spend a token and return None, or return how long to wait for the next one."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self.rate


class Dice:
    """Seeded fault decisions: Bernoulli ``chance`` and exact-count ``pct``."""

    def __init__(self, seed: int, salt: str) -> None:
        self.random = random.Random(f"{seed}:{salt}")  # noqa: S311 - simulation, not security
        self._owed: dict[str, float] = {}

    def chance(self, probability: float) -> bool:
        """Return True with ``probability``."""
        return probability > 0 and self.random.random() < probability

    def pct(self, kind: str, percent: float) -> bool:
        """Return True for exactly ``percent`` % of the calls of ``kind`` (to within one)."""
        if percent <= 0:
            return False
        owed = self._owed.get(kind)
        if owed is None:
            owed = self.random.random()  # the seeded phase: which calls, not how many
        owed += percent / 100
        hit = owed >= 1
        self._owed[kind] = owed - 1 if hit else owed
        return hit


class SystemFaults:
    """The live fault state of one system, changed at run time by the control API."""

    def __init__(self, system: str, config: FaultConfig | None = None) -> None:
        self.system = system
        self.counters: Counter[str] = Counter()
        self.in_flight = 0
        self.down = False
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration; reseed the dice and refill the bucket."""
        self.config = config
        self.requests = Dice(config.seed, f"{self.system}:requests")
        self.deliveries = Dice(config.seed, f"{self.system}:webhooks")
        self.feed = Dice(config.seed, f"{self.system}:feed")
        self.listing = Dice(config.seed, f"{self.system}:listing")
        limit = config.rate_limit
        self.bucket = TokenBucket(limit.rate, limit.burst) if limit else None

    def polled(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A page of a polled listing (``updated_after``) as a report under the feed faults
        answers it: ``feed_duplicate_pct`` of its records served twice, the page shuffled when
        ``feed_reorder_pct`` is set (counted as ``listing_duplicated``, ``listing_reordered``).
        Nothing is left out: a poller that keeps each version once loses nothing."""
        config = self.config
        page = list(items)
        for item in items:
            if self.listing.pct("listing_duplicate", config.feed_duplicate_pct):
                self.count("listing_duplicated")
                page.append(item)
        if config.feed_reorder_pct and len(page) > 1:
            self.listing.random.shuffle(page)
            self.count("listing_reordered")
        return page

    def count(self, name: str, n: int = 1) -> None:
        """Count ``n`` occurrences of the fault or outcome ``name``."""
        self.counters[name] += n
