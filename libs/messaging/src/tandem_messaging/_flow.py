"""Flow control per downstream: stop taking work while a downstream system is down."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Breakers"]

logger = logging.getLogger(__name__)


@dataclass
class _State:
    failures: int = 0
    open: bool = False


@dataclass
class Breakers:
    """One circuit breaker per downstream.

    ``threshold`` consecutive failures open a downstream's breaker: ``on_open`` pauses intake.
    The messages in hand keep being retried as probes, with capped exponential backoff; the
    first success closes the breaker and ``on_close`` resumes intake.
    """

    threshold: int
    min_backoff: float
    max_backoff: float
    on_open: Callable[[str], Awaitable[None]]
    on_close: Callable[[str], Awaitable[None]]
    _states: dict[str, _State] = field(default_factory=dict)

    async def failed(self, downstream: str, cause: BaseException | None = None) -> None:
        """Count a failure; open the breaker at the threshold (logging ``cause``, so an outage
        and a refused credential do not look alike to the operator)."""
        state = self._states.setdefault(downstream, _State())
        state.failures += 1
        if not state.open and state.failures >= self.threshold:
            state.open = True
            why = f" ({type(cause).__name__}: {str(cause)[:300]})" if cause is not None else ""
            logger.warning("downstream %s is down%s: pausing intake", downstream, why)
            await self.on_open(downstream)

    async def recovered(self, downstream: str) -> None:
        """A call to ``downstream`` succeeded: close its breaker."""
        state = self._states.setdefault(downstream, _State())
        state.failures = 0
        if state.open:
            state.open = False
            logger.info("downstream %s is back: resuming intake", downstream)
            await self.on_close(downstream)

    def is_open(self, downstream: str) -> bool:
        """Return True while ``downstream``'s breaker is open."""
        return self._states.get(downstream, _State()).open

    def backoff(self, downstream: str, retry_after: float | None) -> float:
        """Seconds to wait before the next probe: exponential with jitter, or the hint given."""
        failures = self._states.get(downstream, _State()).failures
        delay = min(self.max_backoff, self.min_backoff * 2 ** max(failures - 1, 0))
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        return float(max(delay, retry_after or 0.0))
