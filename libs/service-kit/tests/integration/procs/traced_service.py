"""One traced process of the cross-process tracing test.

Roles:
  origin   start a trace, commit OpportunityLost to the outbox, relay it, exit
  first    consume OpportunityLost, publish ProjectClosedForTime via the outbox, relay it
  second   consume ProjectClosedForTime and record the effect
Tracing is set up as every Tandem process sets it up (``configure_telemetry``, from the
standard ``OTEL_*`` variables the test gives), and flushed on the way out.
"""

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
from opentelemetry import trace

from tandem_contracts import Envelope, Producer
from tandem_contracts.events import OpportunityLost, ProjectClosedForTime
from tandem_messaging import Consumer, HandlerContext, Outbox, OutboxRelay, Router
from tandem_service_kit import configure_telemetry, shutdown_telemetry

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


async def origin(pool: asyncpg.Pool, amqp: aio_pika.abc.AbstractConnection) -> None:
    lost = OpportunityLost(opportunity_id="prj-trace", stage="Closed Lost", lost_at=AT)
    envelope = Envelope.new(
        lost,
        producer=Producer(service="origin"),
        tenant_id="acme",
        legal_entity_id="le-de",
        data_residency_region="eu",
        correlation_id="corr-trace",
        subject_version=1,
    )
    with trace.get_tracer("test").start_as_current_span("origin request"):
        async with pool.acquire() as db, db.transaction():
            await Outbox().add(db, envelope)
    relay = OutboxRelay(pool, amqp)
    await relay.drain()
    await relay.close()


def first_router() -> Router:
    router = Router(service="first")

    @router.handles(OpportunityLost)
    async def close(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        closing = ProjectClosedForTime(
            project_id=envelope.payload.opportunity_id, closed_from=AT.date(), closed_at=AT
        )
        await ctx.publish(closing, subject_version=1)

    return router


def second_router() -> Router:
    router = Router(service="second")

    @router.handles(ProjectClosedForTime)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)",
            envelope.event_id,
            envelope.subject.id,
            envelope.subject_version,
        )

    return router


async def main(role: str, database_url: str, amqp_url: str) -> None:
    pool = await asyncpg.create_pool(database_url)
    amqp = await aio_pika.connect_robust(amqp_url)
    try:
        if role == "origin":
            await origin(pool, amqp)
            return
        router = first_router() if role == "first" else second_router()
        async with Consumer(router, queue=f"t.trace.{role}", pool=pool, connection=amqp):
            print("ready", flush=True)  # noqa: T201 - the test waits for this line
            await OutboxRelay(pool, amqp, poll_interval=0.2).run(asyncio.Event())
    finally:
        await amqp.close()
        await pool.close()


if __name__ == "__main__":
    configure_telemetry(f"trace-{sys.argv[1]}")
    try:
        asyncio.run(main(*sys.argv[1:4]))
    finally:
        shutdown_telemetry()
