"""Typed handlers: a ``Router`` maps event types to the coroutine that handles them.

A router knows no broker and no database, so the same handlers run under the real consumer
and under ``InMemoryBroker`` in unit tests. A service declares its handlers on routers (one per
use-case module, say), ``include``s them into the router of its consumer, and ``bind``s that to
its dependencies in its composition root: a handler names what it needs as parameters after
``(envelope, ctx)`` — ``async def post_time(envelope, ctx, uow, erps)`` — and gets, for each,
the dependency of that name, or (``uow``) the unit of work of the message's transaction.
A parameter no dependency answers is an error at ``bind``, at start-up, not at the first
message.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from tandem_contracts import Envelope, Event, ExternalRef, Producer
from tandem_messaging._db import DbConnection
from tandem_messaging._topology import binding_for

__all__ = [
    "Flush",
    "Handler",
    "HandlerContext",
    "ParkedHook",
    "Router",
    "TransactionScope",
    "UnitOfWork",
]

E = TypeVar("E", bound=Event)
T = TypeVar("T")
Publisher = Callable[[Envelope[Any]], Awaitable[None]]
Flush = Callable[[list[T]], Awaitable[None]]
UOW = "uow"
"""The parameter name of the per-transaction unit of work."""


class UnitOfWork(Protocol):
    """A service's repositories for one transaction; ``flush`` writes what they hold back,
    once, after the handlers and their deferred work and before the commit."""

    async def flush(self) -> None:
        """Write what was kept for the end of the transaction."""


class _NoUnitOfWork:
    async def flush(self) -> None:
        return None


@dataclass
class TransactionScope(Generic[T]):
    """Work the handlers of one transaction defer to its end, to do it once for all of them.

    A consumer commits a lane's batch of deliveries in one transaction: a handler can
    ``defer(flush, item)`` (say, a posting for the ERP), and ``flush`` runs once, with every
    item deferred to it, before the transaction commits. Items are grouped by the flush
    callable itself: pass a module function or a bound method (equal bound methods share a
    batch), not a closure made per message. If a flush raises, the transaction rolls back like
    any handler failure (the batch is then redone one message at a time, each flushing alone).
    """

    uow: Any = field(default_factory=_NoUnitOfWork)
    _pending: dict[Flush[Any], list[Any]] = field(default_factory=dict)

    def defer(self, flush: Flush[T], item: T) -> None:
        """Add ``item`` to the work ``flush`` does before the commit."""
        self._pending.setdefault(flush, []).append(item)

    async def flush(self) -> None:
        """Do the deferred work now, each flush in the order first deferred."""
        while self._pending:
            flush = next(iter(self._pending))
            await flush(self._pending.pop(flush))

    async def finish(self) -> None:
        """Before the commit: the deferred work, then the unit of work's writes."""
        await self.flush()
        await self.uow.flush()


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
    scope: TransactionScope[Any] = field(default_factory=TransactionScope)

    @property
    def uow(self) -> Any:
        """The unit of work of this message's transaction."""
        return self.scope.uow

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

    def satisfy(self, key: str) -> None:
        """Declare dependency ``key`` met: messages parked waiting for it are released."""
        self.satisfied.append(key)


Handler = Callable[[Envelope[Any], HandlerContext[Any]], Awaitable[None]]
ParkedHook = Callable[[Envelope[Any], BaseException, HandlerContext[Any]], Awaitable[None]]
"""Runs in the transaction that parks a message: record it, publish what parking means."""


@dataclass
class Router:
    """The handlers of one consumer (or a part of them, to ``include``).

    ``accept_stale`` hands older subject versions on too; ``unit_of_work`` makes the unit of
    work of a transaction from its connection (``bind`` sets it).
    """

    service: str = ""
    accept_stale: bool = False
    handlers: dict[str, Callable[..., Awaitable[None]]] = field(default_factory=dict)
    models: dict[str, type[Event]] = field(default_factory=dict)
    on_parked: Callable[..., Awaitable[None]] | None = None
    lane_key: Callable[[Envelope[Any]], str] | None = None
    """What orders deliveries (default: the subject id); e.g. the worker, so that one worker's
    entries are handled in arrival order. Subject versions are still enforced by the inbox."""
    unit_of_work: Callable[[DbConnection], Any] = field(default=lambda _: _NoUnitOfWork())
    alone: set[str] = field(default_factory=set)
    """Event types handled one message per transaction, never in a lane's batch: a handler
    whose external call is slow (an invoice posted in the ERP) commits each as it is done,
    rather than hold the others done before it uncommitted until the whole batch is."""

    def handles(self, *models: type[Event], alone: bool = False) -> Callable[[T], T]:
        """Register the decorated coroutine as the handler of ``models`` (``alone``: each
        message in a transaction of its own, see ``Router.alone``)."""

        def register(handler: T) -> T:
            for model in models:
                if model.event_type in self.handlers:
                    raise ValueError(f"{model.event_type} already has a handler")
                self.handlers[model.event_type] = handler  # type: ignore[assignment]
                self.models[model.event_type] = model
                if alone:
                    self.alone.add(model.event_type)
            return handler

        return register

    def when_parked(self, hook: T) -> T:
        """Register the decorated coroutine to run, in the parking transaction, for every
        message this router's consumer parks (a business exception the service records and
        announces, e.g. ``TimePostingFailed``); events it publishes go through the outbox.
        It takes ``(envelope, error, ctx)`` and, like a handler, named dependencies."""
        self.on_parked = hook  # type: ignore[assignment]
        return hook

    def include(self, *routers: Router) -> Router:
        """Take over the handlers (and parking hook) of ``routers``; answer self."""
        for router in routers:
            for event_type, handler in router.handlers.items():
                if event_type in self.handlers:
                    raise ValueError(f"{event_type} already has a handler")
                self.handlers[event_type] = handler
                self.models[event_type] = router.models[event_type]
            self.alone |= router.alone
            if router.on_parked is not None:
                if self.on_parked is not None:
                    raise ValueError("only one parking hook per consumer")
                self.on_parked = router.on_parked
        return self

    def bind(
        self, unit_of_work: Callable[[DbConnection], Any] | None = None, **deps: Any
    ) -> Router:
        """This router with every handler given its dependencies (``TypeError`` if one is
        missing); ``unit_of_work`` makes each transaction's ``uow``."""
        return replace(
            self,
            handlers={name: _inject(h, 2, deps) for name, h in self.handlers.items()},
            models=dict(self.models),
            on_parked=_inject(self.on_parked, 3, deps) if self.on_parked else None,
            unit_of_work=unit_of_work or self.unit_of_work,
        )

    def bindings(self, regions: Sequence[str] = ("*",)) -> list[str]:
        """Return the routing-key patterns of every handled event in ``regions``."""
        return [
            binding_for(model, region=region)
            for model in self.models.values()
            for region in regions
        ]


def _inject(
    handler: Callable[..., Awaitable[None]], positional: int, deps: dict[str, Any]
) -> Callable[..., Awaitable[None]]:
    """``handler`` called with its first ``positional`` arguments, and by name the rest."""
    wanted = list(inspect.signature(handler).parameters)[positional:]
    missing = [name for name in wanted if name != UOW and name not in deps]
    if missing:
        raise TypeError(f"{handler.__qualname__} needs {missing}: no such dependency is bound")
    given = {name: deps[name] for name in wanted if name != UOW}
    if UOW not in wanted:
        return functools.partial(handler, **given) if given else handler

    @functools.wraps(handler)
    async def call(*args: Any) -> None:
        await handler(*args, **given, uow=args[-1].uow)  # the context comes last

    return call
