"""Token buckets honour the rate under a burst, per instance, on a simulated clock."""

import asyncio
import itertools

import pytest

from tandem_connectors.ratelimit import TokenBucket


class Clock:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_burst_gets_its_burst_at_once_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=20.0, burst=10, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(50):
        await bucket.take()
        stamps.append(clock.now)
    # Ten requests go at once; the other forty are spaced at 1/20 s: 2 s in all.
    assert stamps[:10] == [0.0] * 10
    assert stamps[-1] == pytest.approx(40 / 20)
    gaps = [b - a for a, b in itertools.pairwise(stamps[10:])]
    assert all(gap == pytest.approx(0.05) for gap in gaps)


async def test_idle_time_refills_up_to_the_burst_only() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await bucket.take()
    clock.now += 100  # a long idle period refills three tokens, not a hundred
    for _ in range(3):
        await bucket.take()
    assert clock.slept == []
    await bucket.take()
    assert clock.slept == [pytest.approx(1.0)]


async def test_concurrent_callers_share_one_bucket_fairly() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10.0, burst=1, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def call(n: int) -> None:
        await bucket.take()
        order.append(n)

    await asyncio.gather(*(call(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert clock.now == pytest.approx(0.4)


def test_a_bucket_needs_a_positive_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst of at least 1"):
        TokenBucket(rate=1, burst=0)
