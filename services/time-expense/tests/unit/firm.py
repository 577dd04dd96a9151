"""Acme's books for the unit tests: its entities, the Globex project, consultants, rates, and
the events that tell time-expense about them.

``opened()`` is a world where Acme US and Acme UK have their companies in the ERP, Globex is
activated (its ERP and PSA projects linked), Ada is onboarded (an ERP employee, costing 70 USD
an hour) and the USD rate card prices a consultant at 150 USD an hour.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from world import NOW, PSA_INSTANCE, World, world

from tandem_connectors.ports import ErpObject, PsaTimeEntry
from tandem_contracts import Envelope, Event, ExternalRef, Money, Producer, SystemKind
from tandem_contracts.entities import (
    BillingModel,
    CostRate,
    EmploymentType,
    Expense,
    ExpenseStatus,
    LegalEntity,
    Project,
    ProjectFlags,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RoleRate,
    TimeEntry,
    TimeEntryStatus,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import (
    ConsultantOnboarded,
    ExpenseApproved,
    ExpenseRejected,
    ProjectActivated,
    RateCardPublished,
    TimeAdjusted,
    TimeApproved,
    TimeRejected,
)
from tandem_messaging.testing import Outcome

LE_US, LE_UK, LE_DE = "le-us", "le-uk", "le-de"
REGION = {LE_US: "us", LE_UK: "uk", LE_DE: "eu"}
_COUNTRY = {LE_US: ("US", "USD"), LE_UK: ("GB", "GBP"), LE_DE: ("DE", "EUR")}
PROJECT, ROLE = "p-globex", "r-consultant"
WORKER, WORKER_UK = "w-ada", "w-ben"
RATE, COST, AIRFARE = Money.of("150.00", "USD"), Money.of("70.00", "USD"), Money.of("412.60", "USD")
MONDAY = date(2026, 11, 2)


def envelope(event: Event, version: int = 1, *, legal_entity_id: str = LE_US) -> Envelope[Any]:
    """``event`` as its producer publishes it for ``legal_entity_id``."""
    kind = type(event)
    return Envelope.new(
        event, producer=Producer(service=kind.producers[0], system=kind.system_of_record),
        tenant_id="acme", legal_entity_id=legal_entity_id,
        data_residency_region=REGION[legal_entity_id], correlation_id="unit-test",
        subject_version=version, occurred_at=NOW,
    )  # fmt: skip


def project(project_id: str = PROJECT, *, legal_entity_id: str = LE_US, **flags: bool) -> Project:
    """An active project billed in USD, open for time and expenses (unless ``flags`` say)."""
    opened = {"time_entry_open": True, "expense_entry_open": True, **flags}
    return Project(
        id=project_id, name=f"Project {project_id}", customer_id="c-globex",
        legal_entity_id=legal_entity_id, currency="USD",
        billing_model=BillingModel.TIME_AND_MATERIALS, flags=ProjectFlags(**opened),
        status=ProjectStatus.ACTIVE,
    )  # fmt: skip


def worker(worker_id: str = WORKER, legal_entity_id: str = LE_US) -> Worker:
    """An active employee of ``legal_entity_id``."""
    country, currency = _COUNTRY[legal_entity_id]
    return Worker(
        id=worker_id, worker_number=f"N-{worker_id}", legal_entity_id=legal_entity_id,
        employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
        hire_date=date(2024, 1, 8), work_country=country, home_currency=currency,
    )  # fmt: skip


def time_entry(entry_id: str = "te-1", **changes: Any) -> TimeEntry:
    """Ada's approved day on Globex (``changes`` over it)."""
    fields: dict[str, Any] = {
        "id": entry_id, "worker_id": WORKER, "worker_legal_entity_id": LE_US,
        "project_id": PROJECT, "project_legal_entity_id": LE_US, "role_id": ROLE,
        "work_date": MONDAY, "duration_minutes": 480, "billable": True,
        "status": TimeEntryStatus.APPROVED,
    }  # fmt: skip
    return TimeEntry(**{**fields, **changes})


def expense(expense_id: str = "ex-1", amount: Money = AIRFARE) -> Expense:
    """Ada's approved airfare for Globex."""
    return Expense(
        id=expense_id, worker_id=WORKER, project_id=PROJECT, project_legal_entity_id=LE_US,
        category="airfare", expense_date=date(2026, 11, 3), amount=amount, billable=True,
        status=ExpenseStatus.APPROVED,
    )  # fmt: skip


def rate_card(*rates: tuple[int, date, Money]) -> RateCard:
    """Acme's tenant-wide USD card, a version per (version, effective from, consultant rate)."""
    versions = tuple(
        RateCardVersion(
            version=v, effective_from=start, role_rates=(RoleRate(role_id=ROLE, bill_rate=rate),)
        )
        for v, start, rate in rates or ((1, date(2026, 1, 1), RATE),)
    )
    return RateCard(
        id="rc-usd", name="Acme USD rates", currency="USD", scope=RateCardScope(),
        versions=versions, status=RateCardStatus.PUBLISHED,
    )  # fmt: skip


def approval(entry: TimeEntry, version: int = 1) -> Envelope[TimeApproved]:
    """The PSA approved ``entry`` at ``version``."""
    approved = TimeApproved(
        entry=entry, approval_version=version, approved_by="w-pm", approved_at=NOW
    )
    return envelope(approved, version, legal_entity_id=entry.project_legal_entity_id)


def rejection(entry: TimeEntry, version: int, was_approved: bool = True) -> Envelope[TimeRejected]:
    """The PSA rejected ``entry`` at ``version``."""
    rejected = TimeRejected(
        time_entry_id=entry.id, worker_id=entry.worker_id, project_id=entry.project_id,
        was_approved=was_approved, rejected_at=NOW,
    )  # fmt: skip
    return envelope(rejected, version, legal_entity_id=entry.project_legal_entity_id)


def adjustment(original: str, replacement: TimeEntry, version: int) -> Envelope[TimeAdjusted]:
    """Approved time ``original`` corrected to ``replacement`` at ``version``."""
    adjusted = TimeAdjusted(
        original_entry_id=original, replacement=replacement, reason="capped at 7 h",
        adjusted_at=NOW,
    )  # fmt: skip
    return envelope(adjusted, version)


def expense_approval(approved: Expense, version: int = 1) -> Envelope[ExpenseApproved]:
    """The PSA approved the expense at ``version``."""
    return envelope(ExpenseApproved(expense=approved, approved_by="w-pm", approved_at=NOW), version)


def expense_rejection(rejected: Expense, version: int) -> Envelope[ExpenseRejected]:
    """The expense, approved before, rejected at ``version`` (the ERP's review refused it)."""
    event = ExpenseRejected(
        expense_id=rejected.id, project_id=rejected.project_id, worker_id=rejected.worker_id,
        was_approved=True, rejected_at=NOW,
    )  # fmt: skip
    return envelope(event, version)


def psa_entry(
    entry: TimeEntry, status: str = "approved", version: int = 1, **changes: Any
) -> PsaTimeEntry:
    """``entry`` as the PSA holds it (on the Globex workspace), settled a day ago."""
    held: dict[str, Any] = {
        "external_id": entry.id, "version": version, "revision": 1, "status": status,
        "resource_id": f"res-{entry.worker_id}", "worker_id": entry.worker_id,
        "role_id": entry.role_id, "project_id": f"ws-{entry.project_id}", "task_id": None,
        "timesheet_id": None, "work_date": entry.work_date, "minutes": entry.duration_minutes,
        "billable": entry.billable, "bill_rate": None, "notes": None,
        "updated_at": NOW - timedelta(days=1),
    }  # fmt: skip
    return PsaTimeEntry(**{**held, **changes})


def company_of(acme: World, legal_entity_id: str) -> str | None:
    """The ERP company made for ``legal_entity_id`` (under its id as key), if any."""
    return acme.erp.keys.get((ErpObject.COMPANY, legal_entity_id))


def company(acme: World, legal_entity_id: str = LE_US) -> str:
    """The ERP company of ``legal_entity_id`` (made already)."""
    made = company_of(acme, legal_entity_id)
    assert made is not None, f"{legal_entity_id} has no company in the ERP"
    return made


async def make_company(acme: World, legal_entity_id: str) -> str:
    """Finance makes the entity's company in the ERP, under the entity's id as key."""
    country, currency = _COUNTRY[legal_entity_id]
    entity = LegalEntity(
        id=legal_entity_id, name=f"Acme {country}", country=country,
        functional_currency=currency, data_residency_region=REGION[legal_entity_id],
    )  # fmt: skip
    return (await acme.erp.ensure_legal_entity(entity, key=legal_entity_id)).external_id


async def activate(acme: World, activated: Project, version: int = 1) -> Outcome:
    """project-sync made its ERP project (under its entity's company, if made) and the PSA
    workspace ``ws-<id>``; the project is activated."""
    company = company_of(acme, activated.legal_entity_id) or ""
    erp = await acme.erp.create_project(
        activated, company=company, customer="c-globex", service=None, key=activated.id
    )
    psa = ExternalRef(
        system=SystemKind.PSA, instance=PSA_INSTANCE, object_type="project",
        external_id=f"ws-{activated.id}",
    )  # fmt: skip
    linked = activated.model_copy(update={"refs": (erp.ref, psa)})
    event = ProjectActivated(project=linked, activated_at=NOW)
    return await acme.deliver(envelope(event, version, legal_entity_id=activated.legal_entity_id))


async def onboard(
    acme: World, hired: Worker, cost: Money | None = COST, version: int = 1
) -> Outcome:
    """HR onboarded ``hired`` (with an hourly cost from 2026 on, unless ``None``)."""
    rate = (
        None
        if cost is None
        else CostRate(worker_id=hired.id, hourly_cost=cost, effective_from=date(2026, 1, 1))
    )
    event = ConsultantOnboarded(
        worker=hired, primary_role_id=ROLE, cost_rate=rate, start_date=hired.hire_date
    )
    return await acme.deliver(envelope(event, version, legal_entity_id=hired.legal_entity_id))


async def publish_rate_card(acme: World, card: RateCard, published: int, version: int) -> Outcome:
    """The PSA published ``card``'s version ``published`` (the envelope's ``version``)."""
    event = RateCardPublished(rate_card=card, published_version=published, published_at=NOW)
    return await acme.deliver(envelope(event, version))


async def opened(**settings: Any) -> World:
    """A world where Acme is open for business (see the module's docstring)."""
    acme = world(**settings)
    await make_company(acme, LE_US)
    await make_company(acme, LE_UK)
    set_up = [
        await activate(acme, project()),
        await onboard(acme, worker()),
        await publish_rate_card(acme, rate_card(), published=1, version=1),
    ]
    assert set_up == [Outcome.HANDLED] * 3, set_up
    return acme
