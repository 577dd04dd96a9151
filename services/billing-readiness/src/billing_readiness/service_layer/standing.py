"""A project's standing holds, and what changes when they change.

Every new customer-facing charge takes the project's standing holds (the customer on credit
hold, no PO where one is required, refused time not resolved, an invalid tax profile, a
dispute). When the standing changes — the customer released, a PO arrived, the refused time
posted — ``restate`` brings every open charge of the project in line and announces it:
``ChargeHeld`` when a charge gains a hold, ``ChargeReleased`` when it loses its last. Holds
only a person lifts (cap reached, intercompany pair not allowed) stay.

**Charging and restating never miss each other.** A customer's standing changes on the
customer's lane, its projects' charges are made on theirs: without care, a charge made while
the customer is being put on credit hold could read the old standing after the restate read
the charges (write skew). So a transaction that charges by the standing holds the customer's
standing lock shared (``charging_by_standing``) and ``restate`` holds it exclusive before
reading the charges: either the charge reads the new standing, or the restate sees the charge.
The readiness pass restates each project again before proposing, so no invoice goes past a
hold whatever happened before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from billing_readiness.domain import STANDING_KINDS, restand, standing_holds
from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.unit_of_work import (
    AbstractUnitOfWork,
    ChargeRecord,
    KnownProject,
)
from billing_readiness.settings import Settings
from tandem_contracts import Envelope, Producer
from tandem_contracts.events import ChargeHeld, ChargeReleased, HoldReason
from tandem_messaging import HandlerContext

__all__ = [
    "Announce",
    "announce_holds",
    "charging_by_standing",
    "in_handler",
    "in_transaction",
    "restate",
    "standing_of",
    "version_at",
]

_PROJECT_KINDS = STANDING_KINDS | {HoldReason.DISPUTED}
"""Holds a project's standing puts and lifts: a dispute is the project's too."""

Announce = Callable[[ChargeHeld | ChargeReleased, int], Awaitable[object]]
"""Publish a charge's event at a subject version (in a handler's or a route's transaction)."""


def in_handler(ctx: HandlerContext[Any]) -> Announce:
    """Announce through a handler's context (caused by the message it handles)."""

    async def announce(event: ChargeHeld | ChargeReleased, version: int) -> object:
        return await ctx.publish(event, subject_version=version)

    return announce


def in_transaction(
    uow: AbstractUnitOfWork, settings: Settings, known: KnownProject, service: str
) -> Announce:
    """Announce through the unit of work's outbox (a route's or a job's transaction), in the
    project's region and correlation."""

    async def announce(event: ChargeHeld | ChargeReleased, version: int) -> object:
        envelope = Envelope.new(
            event, producer=Producer(service=service), tenant_id=settings.tenant_id,
            legal_entity_id=known.terms.legal_entity_id, data_residency_region=known.region,
            correlation_id=known.correlation_id or known.terms.project_id,
            subject_version=version,
        )  # fmt: skip
        await uow.publish(envelope)
        return envelope

    return announce


async def charging_by_standing(
    uow: AbstractUnitOfWork, known: KnownProject, *, restating: bool = False
) -> None:
    """Hold the project's customer's standing while charging by it (``restating``: this
    transaction restates too, so it takes the lock exclusive at once rather than upgrade a
    shared one, which two transactions could deadlock on)."""
    await uow.projects.lock_standing(known.terms.customer_id, exclusive=restating)


def version_at(at: datetime) -> int:
    """A subject version from a time: later decisions on a charge carry higher versions."""
    return int(at.timestamp() * 1_000_000)


async def standing_of(
    uow: AbstractUnitOfWork, project_id: str, deps: Dependencies
) -> frozenset[HoldReason]:
    """The holds a new customer charge of the project takes now (the seller's country, from
    the settings, decides whether the customer's tax profile is fit)."""
    known = await uow.projects.get(project_id)
    if known is None:
        return frozenset()
    customer = await uow.customers.standing(known.terms.customer_id)
    _, failed = await uow.pending.counts(project_id, date.max)
    return standing_holds(
        known.terms, customer, open_exceptions=failed, policy=deps.policy,
        disputed=known.disputed,
        seller_country=deps.settings.country_of(known.terms.legal_entity_id),
    )  # fmt: skip


async def restate(
    uow: AbstractUnitOfWork,
    announce: Announce,
    project_id: str,
    deps: Dependencies,
) -> tuple[int, int]:
    """Bring the project's open charges in line with its standing holds; answer (held,
    released). Holds the customer's standing lock exclusive first."""
    known = await uow.projects.get(project_id)
    if known is None:
        return 0, 0
    await uow.projects.lock_standing(known.terms.customer_id, exclusive=True)
    standing = await standing_of(uow, project_id, deps)
    at = deps.clock()
    held = released = 0
    for record in await uow.charges.open_of_project(project_id):
        line = record.line
        if not line.billable or line.intercompany:
            continue
        holds = restand(line.holds, standing, _PROJECT_KINDS)
        if holds == line.holds:
            continue
        await uow.charges.set_holds(line.id, holds)
        gained = await announce_holds(announce, record, holds, at)
        held += int(gained)
        released += int(not holds)
    return held, released


async def announce_holds(
    announce: Announce,
    record: ChargeRecord,
    holds: frozenset[HoldReason],
    at: datetime,
    *,
    released_by: str | None = None,
    written_off: bool = False,
) -> bool:
    """Announce a charge's new holds: ``ChargeHeld`` when it gained one, ``ChargeReleased``
    when none is left; answer whether it gained one."""
    line = record.line
    gained = bool(holds - line.holds)
    if gained:
        event: ChargeHeld | ChargeReleased = ChargeHeld(
            charge_id=line.id, project_id=line.project_id, amount=line.amount,
            reasons=tuple(sorted(holds)), held_at=at,
        )  # fmt: skip
        await announce(event, version_at(at))
    elif not holds and line.holds:
        event = ChargeReleased(
            charge_id=line.id, project_id=line.project_id, amount=line.amount,
            released=tuple(sorted(line.holds)), released_by=released_by,
            written_off=written_off, released_at=at,
        )  # fmt: skip
        await announce(event, version_at(at))
    return gained
