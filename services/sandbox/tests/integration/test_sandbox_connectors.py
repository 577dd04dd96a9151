"""The connectors' ERP and PSA ports against the running sandbox systems."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tandem_connectors import MIGRATIONS as CONNECTOR_MIGRATIONS
from tandem_connectors import PeriodClosed, SystemUnavailable
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.polling import Change, Poller
from tandem_connectors.ports import ErpObject, ExpensePosting, TimePosting, TimeReversal
from tandem_connectors.ratelimit import TokenBucket
from tandem_connectors.rest import RestErp, RestPsa
from tandem_contracts import Money
from tandem_contracts.entities import (
    BillingModel,
    CostRate,
    Customer,
    EmploymentType,
    Expense,
    ExpenseStatus,
    LegalEntity,
    PeriodStatus,
    Project,
    ProjectStatus,
    Role,
    TaxProfile,
    TimeEntry,
    TimeEntryStatus,
    Worker,
    WorkerStatus,
    WorkItem,
    WorkItemType,
)
from tandem_sandbox import Sandbox
from tandem_service_kit import apply_migrations

THIS_YEAR = date.today().year
DAY = date(THIS_YEAR, 3, 10)
FAST = RetryPolicy(attempts=3, first_wait=0.05, max_wait=2.0)


@pytest.fixture
async def erp(sandbox: Sandbox) -> AsyncIterator[RestErp]:
    http = HttpTarget(sandbox.urls["erp"], downstream="erp:sandbox", retry=FAST)
    adapter = RestErp(http, instance="sandbox-eu")
    yield adapter
    await adapter.aclose()


async def configure(sandbox: Sandbox, system: str, **config: Any) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.put(
            f"{sandbox.urls['control']}/_sandbox/faults/{system}", json=config
        )
        assert answer.status_code == 200, answer.text


DE = LegalEntity(
    id="le-de",
    name="Acme Consulting GmbH",
    country="DE",
    functional_currency="EUR",
    data_residency_region="eu",
)


def entry(n: int, minutes: int = 90) -> TimeEntry:
    return TimeEntry(
        id=f"te-{n:04d}",
        worker_id="w-1",
        worker_legal_entity_id="le-de",
        project_id="p-1",
        project_legal_entity_id="le-de",
        work_date=DAY + timedelta(days=n % 5),
        duration_minutes=minutes,
        billable=True,
        bill_rate=Money.of("120", "EUR"),
        status=TimeEntryStatus.APPROVED,
    )


async def world(erp: RestErp) -> dict[str, str]:
    company = await erp.ensure_legal_entity(DE, key="le-de")
    customer = await erp.upsert_customer(
        Customer(
            id="c-1",
            name="Globex AG",
            legal_entity_id="le-de",
            country="DE",
            currency="EUR",
            tax_profile=TaxProfile(country="DE", vat_id="DE123456789"),
        ),
        company=company.external_id,
        key="c-1",
    )
    service = await erp.upsert_service(
        Role(id="r-senior", name="Senior Consultant"), Money.of("120", "EUR"), key="r-senior"
    )
    employee = await erp.upsert_employee(
        Worker(
            id="w-1",
            worker_number="W0001",
            legal_entity_id="le-de",
            employment_type=EmploymentType.EMPLOYEE,
            status=WorkerStatus.ACTIVE,
            hire_date=date(2020, 1, 1),
            work_country="DE",
            home_currency="EUR",
        ),
        [
            CostRate(
                worker_id="w-1", hourly_cost=Money.of("60", "EUR"), effective_from=date(2020, 1, 1)
            )
        ],
        company=company.external_id,
        key="w-1",
    )
    project = await erp.create_project(
        Project(
            id="p-1",
            name="Data platform",
            customer_id="c-1",
            legal_entity_id="le-de",
            currency="EUR",
            billing_model=BillingModel.TIME_AND_MATERIALS,
            status=ProjectStatus.ACTIVE,
        ),
        company=company.external_id,
        customer=customer.external_id,
        service=service.external_id,
        key="p-1",
    )
    task = await erp.create_task(
        WorkItem(id="wi-1", project_id="p-1", type=WorkItemType.TASK, name="Discovery"),
        project=project.external_id,
        key="wi-1",
    )
    assert project.code is not None
    assert project.code.startswith("PRJ-")
    return {
        "company": company.external_id,
        "employee": employee.external_id,
        "project": project.external_id,
        "task": task.external_id,
    }


async def test_erp_port_posts_in_bulk_once_per_key_reverses_and_invoices(erp: RestErp) -> None:
    ids = await world(erp)
    # Set-up is idempotent: the same keys answer the same records.
    assert (await erp.ensure_legal_entity(DE, key="le-de")).external_id == ids["company"]
    periods = await erp.list_periods(
        company=ids["company"], legal_entity_id="le-de", start=date(THIS_YEAR, 1, 1),
        end=date(THIS_YEAR, 12, 31),
    )  # fmt: skip
    assert [p.name for p in periods] == [f"{THIS_YEAR}-{m:02d}" for m in range(1, 13)]

    # 350 entries go in two bulk requests (≤ 300 each); half on the task, half on the project.
    postings = [
        TimePosting(entry(n), ids["employee"], ids["task"] if n % 2 else ids["project"], f"t:{n}")
        for n in range(350)
    ]
    first = await erp.post_time(postings)
    again = await erp.post_time(postings)
    assert [w.created for w in first] == [True] * 350
    assert [w.created for w in again] == [False] * 350
    assert [w.external_id for w in again] == [w.external_id for w in first]
    assert {w.ref.object_type for w in first} == {ErpObject.TIME_LINE}

    # Read back through the change feed: 350 lines, 350 x 90 minutes, nothing doubled.
    changes = await erp.change_source(ErpObject.TIME_LINE).changes(
        None, datetime.now(UTC) + timedelta(minutes=1), 1000
    )
    assert len(changes) == 350
    assert sum(c.data["minutes"] for c in changes) == 350 * 90

    # A reversal is a negative line, once per key; never an edit of the original.
    reversal = TimeReversal(first[0].external_id, entry(0), ids["employee"], ids["project"], "r:0")
    reversed_ = await erp.reverse_time(reversal)
    assert (await erp.reverse_time(reversal)).external_id == reversed_.external_id
    changes = await erp.change_source(ErpObject.TIME_LINE).changes(
        None, datetime.now(UTC) + timedelta(minutes=1), 1000
    )
    assert sum(c.data["minutes"] for c in changes) == 349 * 90
    # Reconciliation's view of the same lines: keyed, with the reversal negative.
    lines = await erp.time_lines(company=ids["company"], start=DAY, end=DAY + timedelta(days=30))
    assert len(lines) == 351
    assert sum(line.minutes for line in lines) == 349 * 90
    assert {line.key for line in lines if line.minutes < 0} == {"r:0"}
    assert sum(line.amount.amount for line in lines if line.amount) == Decimal(349 * 180)

    [expense] = await erp.post_expenses(
        [
            ExpensePosting(
                Expense(
                    id="x-1",
                    worker_id="w-1",
                    project_id="p-1",
                    project_legal_entity_id="le-de",
                    category="travel",
                    expense_date=DAY,
                    amount=Money.of("84.20", "EUR"),
                    billable=True,
                    status=ExpenseStatus.APPROVED,
                ),
                ids["employee"],
                ids["project"],
                "x:1",
            )
        ]
    )
    assert expense.ref.object_type == ErpObject.EXPENSE_LINE

    # The invoice bills 349 x 1.5 h x 120 EUR plus the expense; posting numbers it.
    draft = await erp.create_draft_invoice(project=ids["project"], key="inv-1")
    assert draft.total == Money.of(Decimal(349 * 180) + Decimal("84.20"), "EUR")
    posted = await erp.post_invoice(draft.ref.external_id, invoice_date=DAY)
    assert posted.number.startswith("INV-")
    assert posted.total == draft.total


async def test_a_closed_period_refuses_postings_as_period_closed(erp: RestErp) -> None:
    ids = await world(erp)
    periods = await erp.list_periods(
        company=ids["company"], legal_entity_id="le-de", start=DAY, end=DAY
    )
    [march] = periods
    await erp.close_period(march.refs[0].external_id)
    [closed] = await erp.list_periods(
        company=ids["company"], legal_entity_id="le-de", start=DAY, end=DAY
    )
    assert closed.status is PeriodStatus.CLOSED
    with pytest.raises(PeriodClosed) as caught:
        await erp.post_time([TimePosting(entry(1), ids["employee"], ids["project"], "t:late")])
    assert caught.value.reason == "period_closed"


async def test_an_outage_is_system_unavailable_and_service_resumes(
    sandbox: Sandbox, erp: RestErp
) -> None:
    ids = await world(erp)
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{sandbox.urls['control']}/_sandbox/faults/erp/outages",
            json={"start_in_s": 0, "duration_s": 30},
        )
        assert answer.status_code == 202, answer.text
        posting = TimePosting(entry(7), ids["employee"], ids["project"], "t:outage")
        with pytest.raises(SystemUnavailable) as caught:
            await erp.post_time([posting])
        assert caught.value.downstream == "erp:sandbox"
        await client.delete(f"{sandbox.urls['control']}/_sandbox/faults/erp/outages")
    [written] = await erp.post_time([posting])
    assert written.created


async def test_a_burst_is_held_to_the_instance_rate_and_429_retry_after_is_honoured(
    sandbox: Sandbox,
) -> None:
    await configure(sandbox, "psa", rate_limit={"rate": 5, "burst": 5})
    # Without a client bucket the burst meets 429s; the target waits as told and gets through.
    blunt = HttpTarget(sandbox.urls["psa"], downstream="psa:sandbox", retry=RetryPolicy(5, 0.05, 3))
    async with blunt:
        answers = await asyncio.gather(*(blunt.request("GET", "/v1/projects") for _ in range(12)))
    assert all(a.status_code == 200 for a in answers)
    refused = sandbox.faults["psa"].counters["rate_limited"]
    assert refused > 0

    # With a token bucket for the instance, the same burst (to a system with the same limit
    # and a full bucket) is never refused.
    await configure(sandbox, "hris", rate_limit={"rate": 5, "burst": 5})
    polite = HttpTarget(
        sandbox.urls["hris"], downstream="hris:sandbox", bucket=TokenBucket(rate=4.0, burst=4)
    )
    async with polite:
        answers = await asyncio.gather(*(polite.request("GET", "/v1/workers") for _ in range(12)))
    assert all(a.status_code == 200 for a in answers)
    assert sandbox.faults["hris"].counters["rate_limited"] == 0


async def test_psa_port_reads_entries_and_polls_changes_across_a_restart(
    sandbox: Sandbox, database_url: str
) -> None:
    http = HttpTarget(sandbox.urls["psa"], downstream="psa:sandbox", retry=FAST)
    psa = RestPsa(http, instance="sandbox")
    try:
        await psa_story(sandbox, psa, database_url)
    finally:
        await psa.aclose()


async def psa_story(sandbox: Sandbox, psa: RestPsa, database_url: str) -> None:
    project = await psa.create_project(
        Project(
            id="p-9",
            name="Cloud move",
            customer_id="c-1",
            legal_entity_id="le-de",
            currency="EUR",
            billing_model=BillingModel.TIME_AND_MATERIALS,
            status=ProjectStatus.PLANNED,
        ),
        key="p-9",
    )
    await psa.activate_project(project.external_id, key="p-9:activate")
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        resource = await client.post(
            "/v1/resources", json={"name": "Ada", "worker_ref": "w-1", "role": "r-senior"}
        )
        assert resource.status_code == 201, resource.text
        made = []
        for n in range(30):
            answer = await client.post(
                "/v1/time-entries",
                json={
                    "resource_id": resource.json()["id"],
                    "project_id": project.external_id,
                    "date": (DAY + timedelta(days=n % 7)).isoformat(),
                    "minutes": 60 + n,
                },
            )
            assert answer.status_code == 201, answer.text
            made.append(answer.json()["id"])

    one = await psa.time_entry(made[3])
    assert (one.worker_id, one.minutes, one.status, one.revision) == ("w-1", 63, "draft", 1)
    drafts = await psa.time_entries(
        status="draft", project=project.external_id, start=DAY, end=DAY + timedelta(days=2)
    )
    assert sorted(e.external_id for e in drafts) == sorted(made[n] for n in range(30) if n % 7 < 3)

    # Polling with a persisted watermark: stopped after two pages and restarted, every entry
    # is read exactly once.
    await apply_migrations(database_url, [CONNECTOR_MIGRATIONS])
    seen: list[str] = []

    async def keep(_db: Any, page: Sequence[Change]) -> None:
        seen.extend(change.record_key for change in page)

    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as pool:

        def poller() -> Poller:
            source = psa.change_source("time-entries")
            return Poller(
                pool, source, "psa", "sandbox", "time-entries", page_size=7, lag=timedelta(0)
            )

        assert await poller().poll_once(keep) == 7
        assert await poller().poll_once(keep) == 7
        await poller().catch_up(keep)  # a new poller: the restart
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))
