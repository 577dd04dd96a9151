"""Failure classes a handler raises, and the runtime's own errors.

A handler tells the runtime what kind of failure it met by the exception it raises:

    HandlerError
    ├── TransientError          retry later, with growing delays (honouring retry_after)
    │   └── DownstreamUnavailable   a downstream system is down: hold, pause intake, probe
    ├── PermanentError          a business rule or validation failed: park at once
    └── DependencyMissing       park until ``key`` is satisfied, then release automatically

Any other exception is a bug or an unforeseen condition: it is retried like a transient error
and parked when the attempts run out. ``TopologyMismatchError`` stops start-up;
``PublishNotConfirmedError`` makes the relay retry a batch; ``LeaseLostError`` rolls back a
transaction whose partition leases were taken over, and its deliveries go back to the queue.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tandem_messaging._leases import Lease

__all__ = [
    "DependencyMissing",
    "DownstreamUnavailable",
    "HandlerError",
    "LeaseLostError",
    "MessagingError",
    "PermanentError",
    "PublishNotConfirmedError",
    "TopologyMismatchError",
    "TransientError",
    "Verdict",
    "classify",
]


class MessagingError(Exception):
    """Base of the runtime's own errors."""


class TopologyMismatchError(MessagingError):
    """A queue or exchange exists on the broker with other arguments than declared."""


class PublishNotConfirmedError(MessagingError):
    """The broker nacked a publish (or returned it); the outbox row stays unsent."""


class LeaseLostError(MessagingError):
    """A transaction relied on partition leases its consumer no longer holds (taken over, or
    expired); it was rolled back."""

    def __init__(self, lost: Collection[Lease]) -> None:
        self.lost = frozenset(lost)
        super().__init__(f"leases lost: {sorted(lease.partition for lease in self.lost)}")


class HandlerError(Exception):
    """Base of the failures a handler raises on purpose."""

    reason: str = "handler_error"


class TransientError(HandlerError):
    """The operation may succeed later; ``retry_after`` (seconds) is a downstream's hint."""

    reason = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DownstreamUnavailable(TransientError):
    """The downstream system named ``downstream`` is unreachable or overloaded."""

    reason = "downstream_unavailable"

    def __init__(self, downstream: str, message: str, *, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.downstream = downstream


class PermanentError(HandlerError):
    """Retrying cannot help (validation, business rule); ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DependencyMissing(HandlerError):
    """Something this message needs has not happened yet (``key``, e.g. ``project-active:p1``)."""

    reason = "dependency_missing"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Verdict(StrEnum):
    """What the runtime does with a message whose handler raised (the failure label of
    ``tandem_messages_failed_total``)."""

    HOLD = "downstream"
    """a downstream is down: hold the message, pause intake, probe; never park"""
    WAIT = "dependency_missing"
    """park until the dependency is satisfied, then release"""
    PARK = "permanent"
    """park for a person at once"""
    RETRY = "transient"
    """retry with growing delays, park when the attempts run out"""
    RETRY_UNFORESEEN = "unexpected"
    """a bug or an unforeseen condition: retried like a transient error, and logged"""


def classify(error: BaseException) -> Verdict:
    """The one classification of handler failures, shared by the consumer and the in-memory
    broker so that unit tests see what production does."""
    if isinstance(error, DownstreamUnavailable):
        return Verdict.HOLD
    if isinstance(error, DependencyMissing):
        return Verdict.WAIT
    if isinstance(error, PermanentError):
        return Verdict.PARK
    if isinstance(error, TransientError):
        return Verdict.RETRY
    return Verdict.RETRY_UNFORESEEN
