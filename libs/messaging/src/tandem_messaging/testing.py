"""Testing aid: drive a router's handlers with typed events, no broker and no database.

    broker = InMemoryBroker(router)
    outcome = await broker.deliver(envelope)
    assert outcome is Outcome.HANDLED
    assert broker.published_of(TimePosted)

It applies the runtime's semantics: duplicates (same event id or idempotency key) and stale
subject versions are dropped, failures are classified as the real consumer classifies them,
and a message parked for a missing dependency is redelivered once a handler satisfies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from tandem_contracts import Envelope, Event
from tandem_messaging._errors import (
    DependencyMissing,
    DownstreamUnavailable,
    PermanentError,
)
from tandem_messaging._router import HandlerContext, Router

__all__ = ["InMemoryBroker", "Outcome"]

E = TypeVar("E", bound=Event)


class Outcome(Enum):
    """What the runtime would do with a delivered message."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    STALE = "stale"
    RETRY = "retry"
    PARKED = "parked"
    WAITING = "waiting"  # parked until a dependency is satisfied
    HELD = "held"  # a downstream is down: kept and retried, never parked


@dataclass
class InMemoryBroker:
    """Runs ``router``'s handlers in memory; ``connection`` is handed to handlers as is."""

    router: Router
    connection: Any = None
    consumer: str = "in-memory"
    published: list[Envelope[Any]] = field(default_factory=list)
    parked: list[tuple[Envelope[Any], Exception]] = field(default_factory=list)
    waiting: dict[str, list[Envelope[Any]]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _versions: dict[tuple[str, str], int] = field(default_factory=dict)

    async def deliver(self, envelope: Envelope[Any], *, attempt: int = 1) -> Outcome:
        """Hand ``envelope`` to its handler; return what the runtime would do next."""
        if str(envelope.event_id) in self._seen or envelope.idempotency_key in self._seen:
            return Outcome.DUPLICATE
        subject = (envelope.subject.type, envelope.subject.id)
        stale = self._versions.get(subject, 0) >= envelope.subject_version
        if stale and not self.router.accept_stale:
            self._remember(envelope, subject)
            return Outcome.STALE
        staged: list[Envelope[Any]] = []

        async def stage(event: Envelope[Any]) -> None:
            staged.append(event)

        context = HandlerContext(
            envelope=envelope,
            consumer=self.consumer,
            service=self.router.service,
            attempt=attempt,
            connection=self.connection,
            _publisher=stage,
        )
        handler = self.router.handlers.get(envelope.event_type)
        try:
            if handler is None:
                raise PermanentError("no_handler", f"no handler for {envelope.event_type}")
            await handler(envelope, context)
        except DownstreamUnavailable:
            return Outcome.HELD
        except DependencyMissing as exc:
            self.waiting.setdefault(exc.key, []).append(envelope)
            return Outcome.WAITING
        except PermanentError as exc:
            self.parked.append((envelope, exc))
            return Outcome.PARKED
        except Exception:  # the runtime retries transient and unforeseen errors
            return Outcome.RETRY
        self._remember(envelope, subject)
        self.published.extend(staged)
        for key in context.satisfied:
            for waiting in self.waiting.pop(key, []):
                await self.deliver(waiting)
        return Outcome.HANDLED

    def published_of(self, model: type[E]) -> list[Envelope[E]]:
        """Return the published envelopes whose payload is a ``model``."""
        return [e for e in self.published if isinstance(e.payload, model)]

    def _remember(self, envelope: Envelope[Any], subject: tuple[str, str]) -> None:
        self._seen.update((str(envelope.event_id), envelope.idempotency_key))
        self._versions[subject] = max(self._versions.get(subject, 0), envelope.subject_version)
