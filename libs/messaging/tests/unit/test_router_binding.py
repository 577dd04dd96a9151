"""Routers composed and bound: handlers get their dependencies by name and the transaction's
unit of work; the in-memory broker classifies failures as the consumer does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tandem_contracts import Envelope, Producer, SystemKind
from tandem_contracts.events import OpportunityLost, ProjectClosedForTime
from tandem_messaging import (
    DependencyMissing,
    DownstreamUnavailable,
    HandlerContext,
    PermanentError,
    Router,
    TransactionScope,
    TransientError,
    Verdict,
    classify,
)
from tandem_messaging.testing import InMemoryBroker, Outcome

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def lost(key: str, version: int = 1) -> Envelope[OpportunityLost]:
    return Envelope.new(
        OpportunityLost(opportunity_id=key, stage="Closed Lost", lost_at=AT),
        producer=Producer(service="project-sync", system=SystemKind.CRM), tenant_id="acme",
        legal_entity_id="le-us", data_residency_region="us", correlation_id=key,
        subject_version=version,
    )  # fmt: skip


@dataclass
class Store:
    """What a fake unit of work commits to."""

    committed: list[str] = field(default_factory=list)


@dataclass
class UnitOfWork:
    """Keeps what handlers write until ``flush`` (the commit)."""

    store: Store
    written: list[str] = field(default_factory=list)

    async def flush(self) -> None:
        self.store.committed.extend(self.written)


losses = Router()


@losses.handles(OpportunityLost)
async def record_loss(
    envelope: Envelope[OpportunityLost],
    ctx: HandlerContext[Any],
    uow: UnitOfWork,
    fail: dict[str, BaseException],
) -> None:
    uow.written.append(envelope.payload.opportunity_id)
    error = fail.get(envelope.payload.opportunity_id)
    if error is not None:
        raise error


closures = Router()


@closures.handles(ProjectClosedForTime)
async def note_closure(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
    return None


@closures.when_parked
async def remember_parked(
    envelope: Envelope[Any], error: BaseException, ctx: HandlerContext[Any], uow: UnitOfWork
) -> None:
    uow.written.append(f"parked:{envelope.subject.id}")


def service(store: Store, fail: dict[str, BaseException] | None = None) -> Router:
    router = Router(service="test").include(losses, closures)
    return router.bind(unit_of_work=lambda _: UnitOfWork(store), fail=fail or {})


async def test_a_handler_gets_its_dependencies_and_the_transactions_unit_of_work() -> None:
    store = Store()
    broker = InMemoryBroker(service(store))
    assert await broker.deliver(lost("opp-1")) is Outcome.HANDLED
    assert store.committed == ["opp-1"]


def test_a_missing_dependency_is_refused_when_binding_not_at_the_first_message() -> None:
    with pytest.raises(TypeError, match=r"record_loss needs \['fail'\]"):
        Router(service="test").include(losses).bind(unit_of_work=lambda _: None)


def test_including_refuses_a_second_handler_or_parking_hook() -> None:
    with pytest.raises(ValueError, match="OpportunityLost already has a handler"):
        Router(service="test").include(losses, losses)
    other = Router()
    other.when_parked(remember_parked)
    with pytest.raises(ValueError, match="one parking hook"):
        Router(service="test").include(closures, other)


@pytest.mark.parametrize(
    ("error", "verdict", "outcome"),
    [
        (DownstreamUnavailable("erp", "down"), Verdict.HOLD, Outcome.HELD),
        (DependencyMissing("project-open:p1", "not yet"), Verdict.WAIT, Outcome.WAITING),
        (PermanentError("bad", "refused"), Verdict.PARK, Outcome.PARKED),
        (TransientError("later"), Verdict.RETRY, Outcome.RETRY),
        (KeyError("bug"), Verdict.RETRY_UNFORESEEN, Outcome.RETRY),
    ],
)
async def test_the_in_memory_broker_classifies_failures_as_the_consumer_does(
    error: Exception, verdict: Verdict, outcome: Outcome
) -> None:
    store = Store()
    broker = InMemoryBroker(service(store, {"opp-1": error}))
    assert classify(error) is verdict
    assert await broker.deliver(lost("opp-1")) is outcome
    # A failed transaction commits nothing of what its handler wrote; parking commits the
    # parking hook's own writes.
    parked = ["parked:opp-1"] if outcome in (Outcome.PARKED, Outcome.WAITING) else []
    assert store.committed == parked


async def test_work_deferred_to_one_callable_is_flushed_once_for_the_transaction() -> None:
    calls: list[list[int]] = []

    @dataclass
    class Writer:
        async def write(self, items: list[int]) -> None:
            calls.append(items)

    writer, scope = Writer(), TransactionScope[int]()
    for item in (1, 2, 3):
        scope.defer(writer.write, item)  # a new bound method each time: still one batch
    await scope.finish()
    assert calls == [[1, 2, 3]]
