"""The ports of one transaction: the steps being recorded, and the outbox."""

from __future__ import annotations

import abc
from typing import Any

from observability.domain.steps import Step
from tandem_contracts import Envelope

__all__ = ["AbstractBreaches", "AbstractSteps", "AbstractUnitOfWork"]


class AbstractSteps(abc.ABC):
    """The timeline steps a transaction records (written once, at ``flush``)."""

    def __init__(self) -> None:
        self.pending: list[Step] = []

    def add(self, step: Step) -> None:
        """Record ``step`` with the transaction."""
        self.pending.append(step)

    @abc.abstractmethod
    async def write(self) -> int:
        """Write the pending steps; answer how many were new."""


class AbstractBreaches(abc.ABC):
    """The utilization breaches already announced."""

    @abc.abstractmethod
    async def first(self, worker_id: str, period: str, direction: str) -> bool:
        """Note the breach; True when it is new (and so to be announced)."""


class AbstractUnitOfWork(abc.ABC):
    """One transaction of observability's."""

    steps: AbstractSteps
    breaches: AbstractBreaches

    @abc.abstractmethod
    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write events to the outbox in this transaction."""

    async def flush(self) -> None:
        """Write what the transaction kept for its end: the steps."""
        await self.steps.write()
