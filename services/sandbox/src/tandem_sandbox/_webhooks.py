"""Signed webhooks: subscriptions per system, and a dispatcher with retries and faults.

Each delivery is a POST of one event (``Event.public()``) signed with
``tandem_connectors.webhooks.sign`` under the subscription's secret (v2: timestamp, delivery id
and body), with ``X-Tandem-Delivery`` unique per delivery (kept across retries of that
delivery, each attempt signed anew). Faults, per
system: a dropped delivery is never sent; a duplicated one is sent twice, the second time
with a new delivery id (the event id stays: receivers dedupe by it); a reordered one is held
back and sent after the next delivery of its subscription (or after ``flush_after`` seconds).
Non-2xx answers and connection errors are retried with doubling delays up to
``max_attempts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import httpx

from tandem_connectors.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from tandem_sandbox._faults import SystemFaults
from tandem_sandbox._store import Event

__all__ = ["Delivery", "WebhookDispatcher"]

logger = logging.getLogger(__name__)

_SUBSCRIBERS = """
SELECT id, url, secret, event_types FROM sandbox.subscriptions WHERE system = $1 ORDER BY id
"""


@dataclass(frozen=True)
class Delivery:
    """One POST to make: the subscriber, the signed body and its delivery id."""

    subscription: str
    url: str
    secret: str
    body: bytes
    delivery_id: str = field(default_factory=lambda: f"dlv_{secrets.token_hex(8)}")


class _Lane:
    """The ordered deliveries of one subscription, sent by one task."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Delivery, bool]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None


class WebhookDispatcher:
    """Delivers each committed event to the matching subscribers of its system."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        faults: dict[str, SystemFaults],
        *,
        max_attempts: int = 8,
        retry_base: float = 0.1,
        flush_after: float = 0.2,
        timeout: float = 5.0,
    ) -> None:
        self.pool = pool
        self.faults = faults
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.flush_after = flush_after
        self.client = httpx.AsyncClient(timeout=timeout)
        self._lanes: dict[str, _Lane] = {}

    async def publish(self, events: Sequence[Event]) -> None:
        """Queue the deliveries of committed events, deciding drop, duplicate and reorder."""
        subscribers: dict[str, list[asyncpg.Record]] = {}
        for event in events:
            faults = self.faults[event.system]
            if event.system not in subscribers:
                subscribers[event.system] = await self.pool.fetch(_SUBSCRIBERS, event.system)
            if not subscribers[event.system]:
                continue
            body = json.dumps(event.public(), separators=(",", ":")).encode()
            for sub in subscribers[event.system]:
                if sub["event_types"] and event.type not in sub["event_types"]:
                    continue
                self._route(faults, Delivery(sub["id"], sub["url"], sub["secret"], body))

    def _route(self, faults: SystemFaults, delivery: Delivery) -> None:
        config, dice = faults.config, faults.deliveries
        if dice.pct("webhook_drop", config.webhook_drop_pct):
            faults.count("webhook_dropped")
            return
        lane = self._lanes.setdefault(delivery.subscription, _Lane())
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._drain(faults, lane))
        hold = dice.pct("webhook_reorder", config.webhook_reorder_pct)
        lane.queue.put_nowait((delivery, hold))
        if dice.pct("webhook_duplicate", config.webhook_duplicate_pct):
            faults.count("webhook_duplicated")
            copy = Delivery(delivery.subscription, delivery.url, delivery.secret, delivery.body)
            lane.queue.put_nowait((copy, False))

    async def _drain(self, faults: SystemFaults, lane: _Lane) -> None:
        held: Delivery | None = None
        while True:
            try:
                if held is None:
                    delivery, hold = await lane.queue.get()
                else:
                    delivery, hold = await asyncio.wait_for(lane.queue.get(), self.flush_after)
            except TimeoutError:
                assert held is not None  # noqa: S101 - only a held delivery sets a timeout
                await self._send(faults, held)
                held = None
                continue
            if hold and held is None:
                held = delivery
                continue
            await self._send(faults, delivery)
            if held is not None:
                faults.count("webhook_reordered")
                await self._send(faults, held)
                held = None

    async def _send(self, faults: SystemFaults, delivery: Delivery) -> None:
        for attempt in range(1, self.max_attempts + 1):
            signature = sign(
                delivery.secret.encode(), delivery.body, int(time.time()),
                delivery=delivery.delivery_id,
            )  # fmt: skip
            headers = {
                "content-type": "application/json",
                SIGNATURE_HEADER: signature,
                DELIVERY_HEADER: delivery.delivery_id,
            }
            try:
                answer = await self.client.post(
                    delivery.url, content=delivery.body, headers=headers
                )
                if answer.is_success:
                    faults.count("webhook_delivered")
                    return
                reason = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                reason = repr(exc)
            faults.count("webhook_failed_attempts")
            logger.info("webhook %s attempt %d failed: %s", delivery.delivery_id, attempt, reason)
            if attempt < self.max_attempts:
                await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))
        faults.count("webhook_abandoned")

    async def close(self) -> None:
        """Stop every lane and close the HTTP client."""
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
        await self.client.aclose()
