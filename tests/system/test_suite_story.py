"""A firm's month across all five services, from CRM opportunity to posted invoice, on the
real Tryton ERP, with faults (issue 18).

The sandbox CRM, PSA and HRIS, the real Tryton ERP, RabbitMQ, PostgreSQL and Phoenix; the five
services as real processes. The firm's rate card is made in the PSA (staffing-sync announces
it). 15 opportunities are won in the CRM and their contracts approved
(project-sync makes each project in Tryton and the PSA); 30 consultants are hired in the HRIS
(staffing-sync onboards them into the PSA and Tryton); 30 resource requests in the PSA get
staffing-sync's options and the top option still free is booked (AssignmentConfirmed); a week
of the last month's time and an expense per project are approved in the PSA (time-expense posts
them to Tryton); billing-readiness charges them, and drafts and posts each project's invoice in
Tryton.

Faults: every system of record duplicates, drops and reorders its webhooks; each service's
worker is SIGKILLed at a seeded random moment of a seeded random stage and restarted; Tryton is
stopped while the invoices are drafted and posted, then started again. Every assertion reads
the systems of record, the services' APIs, the trace store or a queue of the test's own bound
to the events exchange; never a log, never a service's table.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_testing import Phoenix, PhoenixSpan, TrytonServer, eventually

from .billing_readiness_harness import tryton_invoices
from .project_sync_harness import recording, restarted, tryton_answers, wait_tryton
from .suite_story_harness import (
    Plan,
    Story,
    all_pages,
    expected_invoices,
    hops,
    month_of,
    story_kinds,
    tryton_erp,
)
from .suite_traces_harness import ENTITY, ERP, KEY, ok, running_suite

SEED = 18
TODAY = date.today()
MONTH, WEEK = month_of(TODAY)
PLAN = Plan([f"p-{n:02d}" for n in range(15)], 30, WEEK, MONTH)
HIRED = MONTH - timedelta(days=120)
KINDS = story_kinds()
FAULTS = {"seed": SEED, "webhook_duplicate_pct": 10, "webhook_drop_pct": 5,
          "webhook_reorder_pct": 15}  # fmt: skip
# Each service's worker is SIGKILLed once, at a drawn moment of a drawn stage among those in
# which it works, and started again.
BUSY = {"project-sync": ("won",), "staffing-sync": ("hired", "booked"),
        "time-expense": ("approved",), "billing-readiness": ("approved", "invoiced"),
        "observability": ("won", "hired", "booked", "approved", "invoiced")}  # fmt: skip
EVERY = {"active_test": False}
# One opportunity's flow, in order, on its timeline (with what each service did between).
_FLOW = ("OpportunityCommitted", "ProjectActivated", "InvoiceReady", "InvoicePosted")


async def test_a_firms_month_across_the_suite_on_tryton_with_faults(
    database_url: str, amqp_url: str, tryton: TrytonServer, phoenix: Phoenix, tmp_path: Path
) -> None:
    rng = random.Random(SEED)  # a reproducible fault schedule
    kills = {name: (rng.choice(stages), rng.uniform(0.2, 2.0)) for name, stages in BUSY.items()}
    async with TrytonClient(tryton.url, tryton.database, tryton.user, tryton.password,
                            instance=ERP) as client:  # fmt: skip
        company = (await TrytonErp(client, instance=ERP).ensure_legal_entity(
            ENTITY, key=ENTITY.id)).external_id  # fmt: skip
    async with (
        recording(amqp_url) as bus,
        running_suite(database_url, amqp_url, tmp_path, phoenix, KINDS,
                      tryton_erp(tryton)) as suite,
        contextlib.AsyncExitStack() as stack,
    ):  # fmt: skip
        story = Story(suite, bus)
        for system in ("crm", "psa", "hris", "control"):
            story.http[system] = await stack.enter_async_context(
                httpx.AsyncClient(base_url=suite.sandbox.urls[system], timeout=30))  # fmt: skip
        for name, kind in KINDS.items():
            if kind.api:
                api = httpx.AsyncClient(base_url=suite[name].api_url,
                                        headers={"X-API-Key": KEY}, timeout=60)  # fmt: skip
                story.http[name] = await stack.enter_async_context(api)
        await story.subscribe()
        await story.faults(FAULTS)
        await story.seed_rate_card()

        async def chaos(stage: str) -> None:
            """SIGKILL the stage's victims' workers, each a drawn moment in; start them again."""

            async def kill(name: str, moment: float) -> None:
                await asyncio.sleep(moment)  # the moment, not a wait for anything
                suite.kill_worker(name)
                # While invoicing, Tryton may be stopped by then: a worker that writes to it
                # pauses its intake until Tryton is back, so it is not waited for to consume
                # (every invoice posted afterwards shows it did).
                await suite.start_worker(name, consuming=stage != "invoiced")

            victims = [kill(name, at) for name, (when, at) in kills.items() if when == stage]
            await asyncio.gather(*victims)

        async with asyncio.TaskGroup() as group:
            group.create_task(chaos("won"))
            projects = await _won(story)
        async with asyncio.TaskGroup() as group:
            group.create_task(chaos("hired"))
            resources = await _hired(story)
        async with asyncio.TaskGroup() as group:
            group.create_task(chaos("booked"))
            staffed = await _staffed(story, projects, resources)
        async with asyncio.TaskGroup() as group:
            group.create_task(chaos("approved"))
            await _approved(story, projects, resources, staffed)
        await _charged(story)
        async with asyncio.TaskGroup() as group:
            group.create_task(chaos("invoiced"))
            proposed = await _proposed(story)
            await eventually(lambda: _posted_any(story), within=90, what="an invoice posted",
                             every=0.05)  # fmt: skip
            # Tryton stops once an invoice is posted, the others being drafted and posted;
            # at once, not after this stage's kills.
            tryton.stop()
        assert not await tryton_answers(tryton.url)
        assert proposed - await _posted(story), "the outage must land while invoicing"
        with restarted(tryton, tmp_path / "trytond-restarted.log") as back:
            await wait_tryton(back.url)
            await _all_posted(story, proposed)
            async with TrytonClient(back.url, back.database, back.user, back.password,
                                    instance=ERP) as client:  # fmt: skip
                await _check_invoices(story, client, company, projects, staffed)
                await _check_once(story, client, projects)
            await _check_reconciled(story)
        await _check_timeline(story, projects[PLAN.projects[0]]["opportunity"])
        await _check_trace(phoenix, projects[PLAN.projects[0]]["opportunity"])
        for system in ("crm", "psa", "hris"):
            counters = await story.fault_counters(system)
            for counter in ("webhook_dropped", "webhook_duplicated", "webhook_reordered"):
                assert counters.get(counter, 0) > 0, (system, counters)


async def _won(story: Story) -> dict[str, dict[str, Any]]:
    """Win every opportunity, approve every contract; the projects active, by name."""
    opportunities = {name: await story.win(name) for name in PLAN.projects}
    start = MONTH - timedelta(days=30)
    made = await asyncio.gather(*(story.activate(o, start) for o in opportunities.values()))
    return {name: {**m, "opportunity": opportunities[name]}
            for name, m in zip(PLAN.projects, made, strict=True)}  # fmt: skip


async def _hired(story: Story) -> dict[int, str]:
    """Hire the consultants; once each has its PSA resource, answer them by number."""
    workers = {n: await story.hire(n, HIRED) for n in range(PLAN.hires)}
    await story.announced("ConsultantOnboarded", PLAN.hires)
    found: dict[str, str] = {}

    async def all_resources() -> bool:
        found.update(await story.resources())
        return set(workers.values()) <= set(found)

    await eventually(all_resources, within=90, what="a PSA resource per consultant")
    return {n: found[worker] for n, worker in workers.items()}


async def _staffed(
    story: Story, projects: dict[str, dict[str, Any]], resources: dict[int, str]
) -> dict[int, str]:
    """Two requests per project, in waves of ten over the week; each booked with its best
    option not booked yet. Answer consultant number -> the story's project booked on."""
    by_resource = {r: n for n, r in resources.items()}
    booked: dict[int, str] = {}
    asked = [PLAN.project_of(n) for n in range(PLAN.hires)]
    for wave in range(0, len(asked), 10):
        names = asked[wave : wave + 10]
        requests = [await story.request(projects[p]["psa"]["ref"], WEEK) for p in names]
        shown = await asyncio.gather(*(story.options(r) for r in requests))
        bookings = []
        for name, options in zip(names, shown, strict=True):
            ids = [by_resource.get(o["resource_id"].removeprefix("psa-")) for o in options]
            free = [n for n in ids if n is not None and n not in booked]
            assert free, f"no free option for {name}: {options}"
            bookings.append(await story.book(projects[name]["psa"]["ref"], resources[free[0]],
                                             WEEK))  # fmt: skip
            booked[free[0]] = name
        await _confirmed(story, bookings)
    return booked


async def _confirmed(story: Story, bookings: list[str]) -> None:
    async def all_confirmed() -> bool:
        for booking in bookings:
            answer = await story["staffing-sync"].get(f"/v1/assignments/{booking}")
            if not answer.is_success or answer.json()["status"] != "confirmed":
                return False
        return True

    await eventually(all_confirmed, within=90, what=f"{bookings} confirmed", every=0.5)


async def _approved(
    story: Story, projects: dict[str, dict[str, Any]], resources: dict[int, str],
    staffed: dict[int, str],
) -> None:  # fmt: skip
    """Each consultant's week on the project booked, and an expense per project, approved in
    the PSA; wait until time-expense posted them all to Tryton."""
    spent: set[str] = set()
    for n, name in sorted(staffed.items()):
        psa_project = projects[name]["psa"]["ref"]
        await story.log_week(n, resources[n], psa_project, WEEK)
        if name not in spent:
            spent.add(name)
            amount, markup = PLAN.expense(PLAN.projects.index(name))
            await story.spend(resources[n], psa_project, WEEK[2], amount, markup)
    await story.announced("TimePosted", PLAN.hires * len(WEEK), within=150)
    await story.announced("ExpensePosted", len(PLAN.projects), within=60)


async def _charged(story: Story) -> None:
    """Wait until billing-readiness charged every posting: each entry's and expense's."""
    want = PLAN.hires * len(WEEK) + len(PLAN.projects)
    seen: list[dict[str, Any]] = []

    async def all_charged() -> bool:
        seen[:] = await story.charges()
        return len({c["source_id"] for c in seen}) >= want

    try:
        await eventually(all_charged, within=120, what=f"{want} postings charged", every=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {len(seen)} charges") from None


async def _proposed(story: Story) -> set[str]:
    """Ask billing-readiness for the month's invoices: one per project."""
    outcome = await ok(await story["billing-readiness"].post("/v1/readiness"))
    proposed = {p: [i for i in ids if i.startswith("inv-")]
                for p, ids in outcome["projects"].items()}  # fmt: skip
    counts = sorted(len(ids) for ids in proposed.values() if ids)
    assert counts == [1] * len(PLAN.projects), outcome
    return {i for ids in proposed.values() for i in ids}


async def _posted(story: Story) -> set[str]:
    return {i["invoice_id"] for i in await story.invoices() if i["status"] == "posted"}


async def _posted_any(story: Story) -> bool:
    return bool(await _posted(story))


async def _all_posted(story: Story, invoices: set[str]) -> None:
    async def posted() -> bool:
        return invoices <= await _posted(story)

    await eventually(posted, within=240, what="every invoice posted", every=0.5)


async def _check_invoices(
    story: Story, client: TrytonClient, company: str, projects: dict[str, dict[str, Any]],
    staffed: dict[int, str],
) -> None:  # fmt: skip
    """Each project's invoice in Tryton: posted, to the cent what the test computes from what
    it seeded; none twice, none Tandem did not propose."""
    expected = expected_invoices(PLAN, staffed)
    by_project = {m["project_id"]: name for name, m in projects.items()}
    listed = await story.invoices()
    # Dated by the worker's clock when posted: a run that crosses midnight dates them after
    # the TODAY it started with.
    references, found = await tryton_invoices(client, {ENTITY.id: company}, MONTH, date.today())
    assert Counter(references) == Counter(i["invoice_id"] for i in listed), references
    got: dict[str, tuple[Decimal, Decimal, str, bool]] = {}
    for invoice in listed:
        held = found[invoice["invoice_id"]].invoice
        name = by_project[invoice["project_id"]]
        got[name] = (held.subtotal.amount, held.total.amount - held.tax_total.amount, held.state,
                     bool(held.number))  # fmt: skip
    want = {name: (amount, amount, "posted", True) for name, amount in expected.items()}
    assert got == want


async def _check_once(
    story: Story, client: TrytonClient, projects: dict[str, dict[str, Any]]
) -> None:
    """No entity made twice in any system, counted by its external key."""
    accounts = await all_pages(story["crm"], "/v1/accounts")
    opportunities = await all_pages(story["crm"], "/v1/opportunities")
    names = Counter(a["name"] for a in accounts), Counter(o["name"] for o in opportunities)
    assert names == (Counter(f"Customer of {p}" for p in PLAN.projects),
                     Counter(f"Project {p}" for p in PLAN.projects))  # fmt: skip
    psa_projects = await all_pages(story["psa"], "/v1/projects")
    assert Counter(p["id"] for p in psa_projects) == Counter(
        str(m["psa"]["ref"]) for m in projects.values()
    )
    resources = await all_pages(story["psa"], "/v1/resources")
    assert len(resources) == len({r["worker_ref"] for r in resources}) == PLAN.hires
    bookings = await all_pages(story["psa"], "/v1/assignments")
    assert len(bookings) == PLAN.hires, bookings

    async def keys(model: str, key: str, domain: list[Any]) -> Counter[str]:
        rows = await client.search_read(model, domain, [key], context=EVERY)
        return Counter(str(row[key] if "." not in key else row[key.split(".")[0] + "."][
            key.split(".")[1]]) for row in rows)  # fmt: skip

    employees = await keys("company.employee", "party.code", [["party.code", "like", "employee:%"]])
    assert (len(employees), set(employees.values())) == (PLAN.hires, {1}), employees
    works = await keys("project.work", "comment", [["type", "=", "project"]])
    assert (len(works), set(works.values())) == (len(PLAN.projects), {1}), works
    lines = await keys("timesheet.line", "description", [])
    assert (len(lines), set(lines.values())) == (PLAN.hires * len(WEEK), {1}), lines
    customers = {i["customer_id"] for i in await story.invoices()}
    parties = await keys("party.party", "code", [["code", "in", sorted(customers)]])
    assert parties == Counter(customers), parties


async def _check_reconciled(story: Story) -> None:
    """time-expense's and billing-readiness's reconciliations find nothing; observability's
    view of every domain's reconciliation shows no mismatch left."""
    body = {"legal_entity_id": ENTITY.id, "period": f"{MONTH:%Y-%m}", "repair": False}
    reports: list[dict[str, Any]] = []

    async def settled() -> bool:  # once every entry is out of the reconciliation's quiet time
        answer = await story["time-expense"].post("/v1/reconciliations", json=body)
        reports[:] = await ok(answer)
        assert [r["mismatches"] for r in reports] == [[]], reports
        return [r["psa_entries"] for r in reports] == [PLAN.hires * len(WEEK)]

    await eventually(settled, within=90, what="time-expense's reconciliation", every=3)
    assert [r["erp_lines"] for r in reports] == [PLAN.hires * len(WEEK)], reports
    billing = await ok(await story["billing-readiness"].get("/v1/reconciliation"))
    assert billing["mismatches"] == [], billing
    compared = [(c["legal_entity_id"], c["ours"], c["theirs"], c["skipped"])
                for c in billing["companies"]]  # fmt: skip
    assert compared == [(ENTITY.id, len(PLAN.projects), len(PLAN.projects), None)], billing
    # A run that finds nothing announces nothing: a domain is listed once it disagreed.
    seen = await ok(await story["observability"].get("/v1/reconciliation"))
    assert [d for d in seen["domains"] if any(d["mismatches"].values())] == [], seen


async def _check_timeline(story: Story, correlation: str) -> None:
    """One opportunity followed through observability: from its commitment to its invoice
    posted, each event once."""
    seen: dict[str, Any] = {}

    async def through() -> bool:
        answer = await story["observability"].get(f"/v1/timelines/{correlation}")
        if answer.status_code == 404:
            return False
        seen.update(await ok(answer))
        types = {s["event_type"] for s in seen["steps"]}
        return set(_FLOW) <= types

    try:
        await eventually(through, within=60, what=f"the timeline of {correlation}")
    except AssertionError as exc:
        types = sorted(s["event_type"] for s in seen.get("steps", []))
        raise AssertionError(f"{exc}: {types}") from None
    steps = seen["steps"]
    assert [e for e, n in Counter(s["event_id"] for s in steps).items() if n > 1] == []
    types = [s["event_type"] for s in steps]
    assert [t for t in types if t in _FLOW] == list(_FLOW), types
    flowed = {"project-sync", "time-expense", "billing-readiness"}
    assert flowed <= set(seen["services"]), seen["services"]


async def _check_trace(phoenix: Phoenix, correlation: str) -> None:
    """The opportunity's ProjectActivated in one trace: project-sync publishes it, every other
    service consumes that very message."""
    everyone = set(KINDS)

    def services(hop: list[PhoenixSpan]) -> set[str]:
        return {s.service for s in hop if s.service is not None}

    def across(spans: list[PhoenixSpan]) -> bool:
        return any(everyone <= services(h) for h in hops(spans, "ProjectActivated").values())

    spans = await phoenix.await_spans(
        across, within=90, what=f"ProjectActivated of {correlation} across the suite",
        attributes={"tandem.correlation_id": correlation},
    )  # fmt: skip
    [hop] = [h for h in hops(spans, "ProjectActivated").values() if everyone <= services(h)]
    [publish] = [s for s in hop if s.attributes.get("messaging.operation.type") == "publish"]
    consumers = [s for s in hop if s.attributes.get("messaging.operation.type") == "process"]
    assert publish.service == "project-sync"
    assert {s.service for s in consumers} >= everyone - {"project-sync"}
    assert {s.parent_id for s in consumers} == {publish.span_id}
