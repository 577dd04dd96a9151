"""Typed handlers: a ``Router`` maps event types to the coroutine that handles them.

A router knows no broker and no database, so the same handlers run under the real consumer
and under ``InMemoryBroker`` in unit tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tandem_contracts import Envelope, Event, ExternalRef, Producer
from tandem_messaging._topology import binding_for

__all__ = ["Flush", "Handler", "HandlerContext", "ParkedHook", "Router", "TransactionScope"]

E = TypeVar("E", bound=Event)
Publisher = Callable[[Envelope[Any]], Awaitable[None]]


Flush = Callable[[list[Any]], Awaitable[None]]


@dataclass
class TransactionScope:
    """Work the handlers of one transaction defer to its end, to do it once for all of them.

    A consumer commits a lane's batch of deliveries in one transaction: a handler can
    ``defer`` an item under a key (say, a posting for the ERP), and the key's ``flush`` runs
    once, with every item deferred under it, before the transaction commits. If a flush
    raises, the transaction rolls back like any handler failure (the batch is then redone one
    message at a time, each flushing alone).
    """

    _pending: dict[str, tuple[Flush, list[Any]]] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)
    """What handlers of this transaction read and may share (clear it after writing it)."""
    kept: dict[Any, Any] = field(default_factory=dict)
    """What a handler wrote and defers saving, for later handlers of the transaction to read
    instead of the database (never cleared: it is newer than the database until the flush)."""

    def defer(self, key: str, flush: Flush, item: Any) -> None:
        """Add ``item`` to the work ``flush`` does for ``key`` before the commit."""
        self._pending.setdefault(key, (flush, []))[1].append(item)

    async def flush(self, key: str | None = None) -> None:
        """Do the deferred work now: of ``key``, or of every key in the order first deferred."""
        keys = [key] if key is not None else list(self._pending)
        for name in keys:
            pending = self._pending.pop(name, None)
            if pending is not None:
                flush, items = pending
                await flush(items)


@dataclass
class HandlerContext(Generic[E]):
    """What a handler gets besides its envelope.

    ``connection`` is the database connection whose transaction commits the handler's effects
    together with the inbox row and any event it publishes (None in ``InMemoryBroker``).
    """

    envelope: Envelope[E]
    consumer: str
    service: str
    attempt: int
    connection: Any
    _publisher: Publisher
    satisfied: list[str] = field(default_factory=list)
    scope: TransactionScope = field(default_factory=TransactionScope)

    async def publish(
        self,
        payload: Event,
        *,
        subject_version: int,
        idempotency_key: str | None = None,
        subject_refs: tuple[ExternalRef, ...] = (),
    ) -> Envelope[Any]:
        """Publish an event this one caused, in the handler's transaction (via the outbox)."""
        kind = type(payload)
        envelope = self.envelope.caused(
            payload,
            producer=Producer(service=self.service, system=kind.system_of_record),
            subject_version=subject_version,
            idempotency_key=idempotency_key,
            subject_refs=subject_refs,
        )
        await self._publisher(envelope)
        return envelope

    async def publish_envelope(self, envelope: Envelope[Any]) -> None:
        """Publish a fully built envelope (e.g. one starting a new workflow) via the outbox."""
        await self._publisher(envelope)

    def satisfy(self, key: str) -> None:
        """Declare dependency ``key`` met: messages parked waiting for it are released."""
        self.satisfied.append(key)


Handler = Callable[[Envelope[Any], HandlerContext[Any]], Awaitable[None]]
ParkedHook = Callable[[Envelope[Any], BaseException, HandlerContext[Any]], Awaitable[None]]
"""Runs in the transaction that parks a message: record it, publish what parking means."""


@dataclass
class Router:
    """The handlers of one consumer. ``accept_stale`` hands older subject versions on too."""

    service: str
    accept_stale: bool = False
    handlers: dict[str, Handler] = field(default_factory=dict)
    models: dict[str, type[Event]] = field(default_factory=dict)
    on_parked: ParkedHook | None = None
    lane_key: Callable[[Envelope[Any]], str] | None = None
    """What orders deliveries (default: the subject id); e.g. the worker, so that one worker's
    entries are handled in arrival order. Subject versions are still enforced by the inbox."""

    def handles(self, *models: type[Event]) -> Callable[[Handler], Handler]:
        """Register the decorated coroutine as the handler of ``models``."""

        def register(handler: Handler) -> Handler:
            for model in models:
                if model.event_type in self.handlers:
                    raise ValueError(f"{model.event_type} already has a handler")
                self.handlers[model.event_type] = handler
                self.models[model.event_type] = model
            return handler

        return register

    def when_parked(self, hook: ParkedHook) -> ParkedHook:
        """Register the decorated coroutine to run, in the parking transaction, for every
        message this router's consumer parks (a business exception the service records and
        announces, e.g. ``TimePostingFailed``); events it publishes go through the outbox."""
        self.on_parked = hook
        return hook

    def bindings(self, regions: Sequence[str] = ("*",)) -> list[str]:
        """Return the routing-key patterns of every handled event in ``regions``."""
        return [
            binding_for(model, region=region)
            for model in self.models.values()
            for region in regions
        ]
