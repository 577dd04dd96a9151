"""The README's picture of the operations console: ``docs/images/console-timeline.png``.

observability's api and worker are served in this process (``serve_in_process``) on a fresh
database and vhost of the local PostgreSQL and RabbitMQ, both dropped afterwards. One won
opportunity's flow, from the CRM to its posted invoice, is published on the events exchange as
the five services publish it (the contracts' sample events, one correlation id, a trace per
service action). Once observability has recorded every step, Debian's Chromium (driven by
Playwright; a downloaded browser is never used) signs in, searches the opportunity's id, opens
its timeline and saves the whole page from a 1280-pixel-wide window, scaled by 0.8 (to keep
the PNG under 200 KB).

    uv run python tools/console_screenshot.py [--out PATH]

The servers come from ``TANDEM_DATABASE_URL``, ``TANDEM_AMQP_URL`` and
``TANDEM_AMQP_MANAGEMENT_URL`` (the local defaults otherwise); everything binds 127.0.0.1 and
every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from playwright.async_api import async_playwright, expect
from pydantic import SecretStr

from observability.bootstrap import DEFINITION
from observability.settings import Settings
from tandem_contracts import Envelope, encode
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import declare_events_exchange
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "console-timeline.png"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (tools/setup.sh browser)
NAME = "tandem_console_screenshot"
STOP_WITHIN_S = 60
OPPORTUNITY = "opp-0107"  # the samples' won opportunity; project-sync correlates by its id
TRACE_URL = "http://127.0.0.1:6006/redirects/traces/{trace_id}"  # Phoenix's link to a trace
START = datetime(2026, 10, 1, 9, 12, tzinfo=UTC)
# Each service action: one trace, the events it published, when (after START). Staffing is
# correlated by the project's id, not the opportunity's: it has a timeline of its own.
ACTIONS: tuple[tuple[timedelta, tuple[str, ...]], ...] = (
    (timedelta(0), ("OpportunityCommitted", "ProjectShellCreated")),
    (timedelta(days=1, hours=5), ("SOWApproved", "ProjectActivated")),
    (timedelta(days=29, hours=8), ("TimeSubmitted",)),
    (timedelta(days=30), ("TimeApproved", "TimePosted", "ChargeCreated")),
    (timedelta(days=31, hours=21), ("InvoiceReady", "InvoicePosted")),
)


def _urls() -> tuple[str, str, str]:
    return (
        os.environ.get(
            "TANDEM_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
        ),
        os.environ.get("TANDEM_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        os.environ.get("TANDEM_AMQP_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"),
    )


@contextlib.asynccontextmanager
async def fresh() -> AsyncIterator[tuple[str, str]]:
    """A new database and vhost of this tool's own; both dropped afterwards."""
    admin, amqp, management = _urls()
    user = httpx.URL(management).username or "guest"
    async with httpx.AsyncClient(base_url=management, timeout=10) as api:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{NAME}"')
            await api.delete(f"/api/vhosts/{NAME}")
            (await api.put(f"/api/vhosts/{NAME}")).raise_for_status()
            grant = {"configure": ".*", "write": ".*", "read": ".*"}
            (await api.put(f"/api/permissions/{NAME}/{user}", json=grant)).raise_for_status()
            yield admin.rsplit("/", 1)[0] + f"/{NAME}", amqp.rstrip("/") + f"/{NAME}"
        finally:
            await api.delete(f"/api/vhosts/{NAME}")
            await connection.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
            await connection.close()


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[None]:
    """observability's api and worker served here; stopping them is bounded, as the picture is
    taken by then (what would not stop goes with the database, dropped WITH (FORCE))."""
    served = serve_in_process(DEFINITION, settings)
    await served.__aenter__()
    try:
        yield
    finally:
        try:
            async with asyncio.timeout(STOP_WITHIN_S):
                await served.__aexit__(None, None, None)
        except TimeoutError:
            print(f"observability did not stop within {STOP_WITHIN_S} s", file=sys.stderr)


def the_flow() -> list[tuple[int, Envelope[Any]]]:
    """(action, envelope) of the opportunity's flow, each event caused by the one before."""
    samples = {e.event_type: e for e in sample_envelopes()}
    flow: list[tuple[int, Envelope[Any]]] = []
    for action, (after, types) in enumerate(ACTIONS):
        for n, kind in enumerate(types):
            sample, at = samples[kind], START + after + timedelta(seconds=2 * n)
            if not flow:
                envelope: Envelope[Any] = Envelope.new(
                    sample.payload, producer=sample.producer, tenant_id=sample.tenant_id,
                    legal_entity_id=sample.legal_entity_id,
                    data_residency_region=sample.data_residency_region,
                    correlation_id=OPPORTUNITY, subject_version=1, occurred_at=at,
                )  # fmt: skip
            else:
                envelope = flow[-1][1].caused(
                    sample.payload, producer=sample.producer, subject_version=1, occurred_at=at
                )
            flow.append((action, envelope))
    return flow


async def publish(amqp_url: str, flow: list[tuple[int, Envelope[Any]]]) -> None:
    """Publish ``flow`` as the services' relays do, each action inside a trace of its own."""
    tracer = trace.get_tracer("tandem.tools.console_screenshot")
    async with await aio_pika.connect_robust(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        for action in range(len(ACTIONS)):
            with tracer.start_as_current_span(f"action {action}"):
                headers: dict[str, Any] = {}
                propagate.inject(headers)
                for _, envelope in (pair for pair in flow if pair[0] == action):
                    body = aio_pika.Message(
                        encode(envelope), message_id=str(envelope.event_id), headers=headers
                    )
                    await exchange.publish(body, routing_key=envelope.routing_key)


async def shoot(console_url: str, key: str, out: Path) -> None:
    """Sign in, search the opportunity, open its timeline, save the whole page as ``out``."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page(
                viewport={"width": 1280, "height": 800}, device_scale_factor=0.8
            )
            expect.set_options(timeout=20_000)
            await page.goto(console_url)
            await page.get_by_test_id("api-key").fill(key)
            await page.get_by_test_id("sign-in-submit").click()
            await page.get_by_test_id("search-input").fill(OPPORTUNITY)
            await page.get_by_test_id("search-submit").click()
            found = page.get_by_test_id("search-result").filter(has_text="opportunity")
            await found.get_by_test_id("search-result-link").click()
            await expect(page.get_by_test_id("step-event")).to_have_count(len(the_flow()))
            await page.screenshot(path=out, full_page=True)
        finally:
            await browser.close()


async def main(out: Path) -> None:
    # Tracing on before the worker starts: its consumer continues each publisher's trace.
    trace.set_tracer_provider(TracerProvider())
    key = secrets.token_hex(16)
    async with fresh() as (database_url, amqp_url):
        await apply_migrations(database_url, DEFINITION.migrations)
        settings = Settings(
            database_url=database_url, amqp_url=amqp_url, http_port=free_port(),
            worker_http_port=free_port(), trace_url_template=TRACE_URL,
            api_keys={SecretStr(key): frozenset({"observability:read", "parked:read"})},
        )  # fmt: skip
        api_url = f"http://127.0.0.1:{settings.http_port}"
        async with (
            serving(settings),
            httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": key}, timeout=10) as api,
        ):
            worker = f"http://127.0.0.1:{settings.worker_http_port}/readyz"

            async def ready() -> bool:
                with contextlib.suppress(httpx.TransportError):
                    return (await api.get(worker)).status_code == 200
                return False

            await eventually(ready, within=60, what="observability's worker ready")
            flow = the_flow()
            await publish(amqp_url, flow)

            async def recorded() -> bool:
                answer = await api.get(f"/v1/timelines/{OPPORTUNITY}")
                return answer.status_code == 200 and len(answer.json()["steps"]) == len(flow)

            await eventually(recorded, within=60, what="every step of the flow recorded")
            await shoot(f"{api_url}/console", key, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"the PNG (default {OUT})")
    out: Path = parser.parse_args().out
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(out))
    print(f"{out}: {out.stat().st_size // 1024} KB")
