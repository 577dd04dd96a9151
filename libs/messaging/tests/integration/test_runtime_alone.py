"""A handler registered ``alone`` commits each message in a transaction of its own, while a
lane's other messages are still handled in batches, in order."""

from __future__ import annotations

from typing import Any

import pytest

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, HandlerContext, Router

EFFECT = """
INSERT INTO effects (event_id, subject, version, tx) VALUES ($1, $2, $3, txid_current())
"""


@pytest.mark.parametrize("alone", [False, True])
async def test_a_lane_of_one_subject_is_batched_unless_its_handler_is_alone(
    pool, amqp, publish, lost_event, fast_settings, eventually, alone
) -> None:
    await pool.execute("ALTER TABLE effects ADD COLUMN tx bigint")
    router = Router(service="test")

    @router.handles(OpportunityLost, alone=alone)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    async with Consumer(
        router, queue="t.alone", pool=pool, connection=amqp, settings=fast_settings
    ):
        pass  # the topology, so that what is published next waits in the queue
    # One subject, one lane: forty versions waiting, which the consumer takes in batches.
    await publish(amqp, *(lost_event("opp-1", version) for version in range(1, 41)))
    async with Consumer(
        router, queue="t.alone", pool=pool, connection=amqp, settings=fast_settings
    ):
        await eventually(lambda: _effects_are(pool, 40), what="forty effects")
    rows = await pool.fetch("SELECT version, tx FROM effects ORDER BY serial")
    assert [row["version"] for row in rows] == list(range(1, 41))
    transactions = len({row["tx"] for row in rows})
    if alone:
        assert transactions == 40
    else:  # batched: the same lane's messages share transactions
        assert transactions < 40


async def _effects_are(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) == n
