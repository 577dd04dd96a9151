"""The operations console in a real browser: Debian's Chromium, driven by Playwright, against
observability served here on real RabbitMQ and PostgreSQL, beside lost-deals, a real service
with two messages parked.

An operator signs in, finds a timesheet by its id, follows its timeline to the ERP line and the
trace, opens lost-deals' parking lot, replays one message (refused without a reason, by the page
and by the API) and finds the replay audited. A reader, whose key allows no replay, is refused
by the API even when the page is made to offer the button. Screenshots of every view are kept
(``TANDEM_TEST_ARTEFACTS``/console, else ``.tandem/artefacts/console``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from observability.entrypoints.console import console_router
from tandem_testing import AmqpServer, PostgresServer, eventually, in_ci

from .observability_console_support import (
    LOT,
    LOT_READER,
    OPERATOR,
    OPERATOR_SCOPES,
    READER,
    REFUSED_REASON,
    TRACE_URL,
    Deployment,
    database,
    deployed,
    publish_flow,
    subject_of,
)

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; a downloaded browser is never used
Shot = Callable[[str], Awaitable[None]]


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; missing, the test fails in CI and is skipped elsewhere."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (tools/setup.sh browser installs Debian's chromium)"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Path:
    """Where the screenshots go (kept after the run, ignored by git under ``.tandem``)."""
    named = os.environ.get("TANDEM_TEST_ARTEFACTS")
    root = Path(named) if named else request.config.rootpath / ".tandem" / "artefacts"
    folder = root / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def deployment(
    request: pytest.FixtureRequest,
    database_url: str,
    amqp_url: str,
    postgres_info: PostgresServer,
    amqp_server_info: AmqpServer,
) -> AsyncIterator[Deployment]:
    async with (
        database(postgres_info.url) as lot_database_url,
        deployed(
            request.config.rootpath, database_url, lot_database_url, amqp_url,
            amqp_server_info.management_url,
        ) as running,
    ):  # fmt: skip
        yield running


@pytest.fixture
async def page(chromium: Path) -> AsyncIterator[Page]:
    """A fresh browser page; what the page itself got wrong (script errors, refused loads by
    the content security policy) fails the test."""
    faults: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            faults.append(message.text)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            opened = await context.new_page()
            opened.on("pageerror", lambda error: faults.append(str(error)))
            opened.on("console", on_console)
            expect.set_options(timeout=20_000)
            yield opened
        finally:
            await browser.close()
    assert faults == []


def screenshots(page: Page, folder: Path) -> Shot:
    taken = 0

    async def shot(name: str) -> None:
        nonlocal taken
        taken += 1
        await page.screenshot(path=folder / f"{taken:02d}-{name}.png", full_page=True)

    return shot


async def sign_in(page: Page, key: str) -> None:
    await page.get_by_test_id("api-key").fill(key)
    await page.get_by_test_id("sign-in-submit").click()


async def test_an_operator_follows_a_timesheet_and_replays_a_parked_message(
    deployment: Deployment, page: Page, artefacts: Path
) -> None:
    shot = screenshots(page, artefacts)
    # A timesheet is submitted, approved and posted to the ERP, in one trace.
    flow = await publish_flow(deployment)

    async def recorded() -> bool:
        shown = await deployment.observability.get(f"/v1/timelines/{flow.correlation_id}")
        return shown.status_code == 200 and len(shown.json()["steps"]) == 3

    await eventually(recorded, within=60, what="the timesheet's three steps recorded")

    # A key observability does not know is refused, and the page says why.
    await page.goto(deployment.console_url)
    await sign_in(page, "tk_no_such_key")
    await expect(page.get_by_test_id("session-message")).to_have_text(
        "not signed in: unknown API key"
    )
    await expect(page.get_by_test_id("tabs")).to_be_hidden()

    # The operator signs in: who they are and what they may do.
    await sign_in(page, OPERATOR)
    await expect(page.get_by_test_id("subject")).to_have_text(subject_of(OPERATOR))
    await expect(page.get_by_test_id("scope")).to_have_text(sorted(OPERATOR_SCOPES))
    await expect(page.get_by_test_id("session-message")).to_be_hidden()

    # They search the timesheet's id and open its timeline.
    await page.get_by_test_id("search-input").fill(flow.timesheet_id)
    await page.get_by_test_id("search-submit").click()
    found = page.get_by_test_id("search-result").filter(
        has=page.get_by_text(f"timesheet {flow.timesheet_id}", exact=True)
    )
    await expect(found).to_have_count(1)
    await shot("search")
    await found.get_by_test_id("search-result-link").click()

    # Each step, in order; the posting names the ERP's line; every step links to the trace.
    await expect(page.get_by_test_id("timeline-id")).to_have_text(flow.correlation_id)
    await expect(page.get_by_test_id("step-event")).to_have_text(
        ["TimeSubmitted", "TimeApproved", "TimePosted"]
    )
    line = flow.erp_line
    posted = page.get_by_test_id("step").filter(has_text="TimePosted")
    await expect(posted.get_by_test_id("system-id")).to_have_text(
        [f"{line.system.value} {line.object_type} {line.external_id}"]
    )
    links = page.get_by_test_id("trace-link")
    await expect(links).to_have_count(3)
    for link in await links.all():
        await expect(link).to_have_attribute("href", TRACE_URL.format(trace_id=flow.trace_id))
    await shot("timeline")

    # lost-deals' parking lot holds both refused deals.
    await page.get_by_test_id("tab-parked").click()
    lot = page.locator(f'[data-testid="lot"][data-service="{LOT}"]')
    await expect(lot.get_by_test_id("parked-reason")).to_have_text([REFUSED_REASON] * 2)
    await expect(lot.get_by_test_id("parked-event-type")).to_have_text(["OpportunityLost"] * 2)
    await shot("parking-lot")

    # One message's detail: the message, why it was parked, its history.
    first = deployment.parked["opp-a"]
    await lot.locator(f'a[href="#parked/{LOT}/{first}"]').click()
    await expect(page.get_by_test_id("parked-detail-reason")).to_have_text(REFUSED_REASON)
    await expect(page.get_by_test_id("parked-status")).to_have_text("parked")
    await expect(page.get_by_test_id("parked-envelope")).to_contain_text('"opp-a"')
    await expect(page.get_by_test_id("parked-history")).to_contain_text("failed 1 time(s)")
    await expect(page.get_by_test_id("discard")).to_be_hidden()  # no parked:discard scope
    await shot("parked-detail")

    # Replay without a reason: the page refuses; a reason of control characters only: the API.
    result = page.get_by_test_id("action-result")
    await page.get_by_test_id("replay").click()
    await expect(result).to_have_text("replay refused: give a reason, it is audited")
    await page.get_by_test_id("action-why").fill("\x01")
    await page.get_by_test_id("replay").click()
    await expect(result).to_contain_text("replay refused: 422: invalid request: body.why")
    assert await deployment.parked_status(first) == "parked"
    await shot("replay-refused")

    # The ERP is fixed for that deal; the operator replays it, saying why.
    deployment.erp.refused.discard("opp-a")
    why = "ERP lookup fixed for opp-a"
    await page.get_by_test_id("action-why").fill(why)
    await page.get_by_test_id("replay").click()
    await expect(result).to_contain_text("replayed 1 message(s)")
    await expect(page.get_by_test_id("parked-status")).to_have_text("replayed")
    await shot("replayed")

    # lost-deals' own API: the message was replayed, and handled this time.
    assert await deployment.parked_status(first) == "replayed"
    losses = httpx.AsyncClient(
        base_url=str(deployment.lost_deals.base_url), headers={"X-API-Key": LOT_READER}
    )
    async with losses:

        async def handled() -> bool:
            return (await losses.get("/v1/losses/opp-a")).status_code == 200

        await eventually(handled, within=30, what="the replayed loss recorded by lost-deals")

    # The audit names the operator and their reason.
    await page.get_by_test_id("tab-audit").click()
    entry = page.get_by_test_id("audit-entry")
    await expect(entry).to_have_count(1)
    await expect(entry.get_by_test_id("audit-actor")).to_have_text(subject_of(OPERATOR))
    await expect(entry.get_by_test_id("audit-action")).to_have_text("replay")
    await expect(entry.get_by_test_id("audit-service")).to_have_text(LOT)
    await expect(entry.get_by_test_id("audit-why")).to_have_text(why)
    await shot("audit")

    # The other views render what the API answers, none of them refused.
    headings = {"kpis": "KPIs", "slos": "Service level objectives",
                "reconciliation": "Reconciliation", "fleet": "Fleet"}  # fmt: skip
    for view, heading in headings.items():
        await page.get_by_test_id(f"tab-{view}").click()
        await expect(page.get_by_test_id("view").locator("h2")).to_have_text(heading)
        await expect(page.get_by_test_id("error")).to_have_count(0)
        await shot(view)
    await expect(page.get_by_test_id("queue").filter(has_text="observability")).not_to_have_count(0)

    # Signing out forgets the key.
    await page.get_by_test_id("sign-out").click()
    await expect(page.get_by_test_id("sign-in")).to_be_visible()
    assert await page.evaluate("() => sessionStorage.length") == 0

    # A reader: no parking lot tab, the detail refused by the API, no replay offered.
    await sign_in(page, READER)
    await expect(page.get_by_test_id("subject")).to_have_text(subject_of(READER))
    await expect(page.get_by_test_id("tab-parked")).to_be_hidden()
    second = deployment.parked["opp-b"]
    await page.goto(f"{deployment.console_url}#parked/{LOT}/{second}")
    await expect(page.get_by_test_id("error")).to_have_text("403: missing scope: parked:read")
    actions = page.get_by_test_id("parked-actions")
    await expect(actions).to_be_hidden()

    # A page made to offer the replay anyway: the API refuses it, and nothing is replayed.
    deployment.erp.refused.discard("opp-b")
    await actions.evaluate(
        "form => { form.hidden = false; form.querySelectorAll('button')"
        ".forEach(button => { button.hidden = false; }); }"
    )
    await page.get_by_test_id("action-why").fill("replaying without the scope")
    await page.get_by_test_id("replay").click()
    await expect(result).to_have_text("replay refused: 403: missing scope: parked:replay")
    await shot("reader-refused")
    assert await deployment.parked_status(second) == "parked"
    audited = (await deployment.observability.get("/v1/audit")).json()["items"]
    assert [(a["actor"], a["why"]) for a in audited] == [(subject_of(OPERATOR), why)]


async def test_the_console_page_needs_no_credential_and_serves_only_its_own_assets() -> None:
    app = FastAPI()
    app.include_router(console_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
        page = await client.get("/console")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'src="/console/static/console.js"' in page.text
        script = await client.get("/console/static/console.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "innerHTML" not in script.text  # data is only ever rendered as text
        style = await client.get("/console/static/console.css")
        assert style.headers["content-type"].startswith("text/css")
        for elsewhere in ("console.html.bak", "..%2Fconsole.py", "%2E%2E%2F..%2Fsettings.py"):
            assert (await client.get(f"/console/static/{elsewhere}")).status_code == 404
