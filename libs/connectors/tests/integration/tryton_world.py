"""A small firm in a real Tryton, built through the adapter, for the TrytonErp tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from tandem_connectors.ports import TimePosting
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import (
    BillingModel,
    CostRate,
    Customer,
    EmploymentType,
    LegalEntity,
    Project,
    ProjectStatus,
    Role,
    TaxProfile,
    TimeEntry,
    TimeEntryStatus,
    Worker,
    WorkerStatus,
)
from tandem_testing import TrytonServer

TODAY = dt.date.today()
US = LegalEntity(
    id="le-us",
    name="Acme US",
    country="US",
    functional_currency="USD",
    data_residency_region="us",
)
DE = LegalEntity(
    id="le-de",
    name="Acme DE",
    country="DE",
    functional_currency="EUR",
    data_residency_region="eu",
)


def client_of(server: TrytonServer) -> TrytonClient:
    return TrytonClient(
        server.url, server.database, server.user, server.password, instance="us", timeout=60
    )


def customer(name: str = "Globex") -> Customer:
    return Customer(
        id="cu-1",
        name=name,
        legal_entity_id="le-us",
        country="US",
        currency="USD",
        tax_profile=TaxProfile(country="US"),
    )


def worker(number: str) -> Worker:
    return Worker(
        id=f"w-{number}",
        worker_number=number,
        legal_entity_id="le-us",
        employment_type=EmploymentType.EMPLOYEE,
        status=WorkerStatus.ACTIVE,
        hire_date=dt.date(TODAY.year - 1, 1, 1),
        work_country="US",
        home_currency="USD",
    )


def cost(amount: str, since: dt.date) -> CostRate:
    return CostRate(hourly_cost=Money.of(amount, "USD"), effective_from=since)


def project(name: str = "ERP rollout") -> Project:
    return Project(
        id="p-1",
        name=name,
        customer_id="cu-Globex",
        legal_entity_id="le-us",
        currency="USD",
        billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE,
    )


def entry(n: int, minutes: int, day: dt.date) -> TimeEntry:
    return TimeEntry(
        id=f"te-{n:05d}",
        worker_id="w-1",
        worker_legal_entity_id="le-us",
        project_id="p-1",
        project_legal_entity_id="le-us",
        work_date=day,
        duration_minutes=minutes,
        billable=True,
        status=TimeEntryStatus.APPROVED,
    )


@dataclass
class Firm:
    """Ids of one US company's records in Tryton."""

    erp: TrytonErp
    company: str
    customer: str
    service: str
    employees: list[str]
    project: str

    def posting(self, n: int, minutes: int, day: dt.date, employee: int = 0) -> TimePosting:
        return TimePosting(
            entry(n, minutes, day), self.employees[employee], self.project, f"te-{n}"
        )


async def firm(erp: TrytonErp, employees: int = 1) -> Firm:
    """Set up the US company, a customer, a 150 USD/h service, employees and a T&M project."""
    company = (await erp.ensure_legal_entity(US, key="le-us")).external_id
    party = (await erp.upsert_customer(customer(), company=company, key="cu-globex")).external_id
    role = Role(id="r-senior", name="Senior Consultant")
    service = (await erp.upsert_service(role, Money.of("150", "USD"), key="svc-senior")).external_id
    staff = [
        (
            await erp.upsert_employee(
                worker(f"W{i}"),
                [cost("55", dt.date(TODAY.year - 1, 1, 1))],
                company=company,
                key=f"w-{i}",
            )
        ).external_id
        for i in range(employees)
    ]
    shell = await erp.create_project(
        project(), company=company, customer=party, service=service, key="p-1"
    )
    return Firm(erp, company, party, service, staff, shell.external_id)


def hours_times(rate: str, minutes: int) -> Decimal:
    return Decimal(rate) * Decimal(minutes) / 60
