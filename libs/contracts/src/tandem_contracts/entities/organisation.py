"""Organisation, parties and people (DOMAIN.md §2.2)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tandem_contracts._money import CurrencyCode, Money
from tandem_contracts._refs import ExternalRef
from tandem_contracts._types import (
    CalendarDate,
    CanonicalId,
    CanonicalModel,
    CountryCode,
    Minutes,
    Region,
    UtcDatetime,
)

__all__ = [
    "CostRate",
    "Customer",
    "CustomerStatus",
    "EmploymentType",
    "LegalEntity",
    "OrgUnit",
    "OrgUnitType",
    "Resource",
    "Role",
    "Skill",
    "SkillRating",
    "TaxProfile",
    "TaxRegistration",
    "TaxpayerKind",
    "Worker",
    "WorkerStatus",
]


class TaxRegistration(CanonicalModel):
    """A VAT/GST registration of a legal entity."""

    country: CountryCode
    tax_id: str = Field(min_length=2, max_length=40)


class LegalEntity(CanonicalModel):
    """A company that employs, contracts and invoices; SoR: ERP (Tryton ``company.company``)."""

    id: CanonicalId
    name: str = Field(min_length=1, max_length=200)
    country: CountryCode
    functional_currency: CurrencyCode
    data_residency_region: Region
    tax_registrations: tuple[TaxRegistration, ...] = ()
    fiscal_calendar_id: CanonicalId | None = None
    refs: tuple[ExternalRef, ...] = ()


class OrgUnitType(StrEnum):
    REGION = "region"
    PRACTICE = "practice"
    GROUP = "group"
    DEPARTMENT = "department"
    COST_CENTER = "cost_center"
    LOCATION = "location"


class OrgUnit(CanonicalModel):
    """A region, practice, department or cost centre; SoR: ERP finance dims or PSA."""

    id: CanonicalId
    type: OrgUnitType
    name: str = Field(min_length=1, max_length=200)
    parent_id: CanonicalId | None = None
    legal_entity_id: CanonicalId | None = None
    refs: tuple[ExternalRef, ...] = ()


class TaxpayerKind(StrEnum):
    B2B = "b2b"
    B2C = "b2c"


class TaxProfile(CanonicalModel):
    """How a customer is taxed; the ERP or tax engine decides tax from it at invoice time."""

    country: CountryCode
    subdivision: str | None = Field(default=None, max_length=40)
    vat_id: str | None = Field(default=None, max_length=40)
    vat_id_validated_at: UtcDatetime | None = None
    taxable_person: TaxpayerKind = TaxpayerKind.B2B
    exemption_certificate: str | None = Field(default=None, max_length=120)
    default_tax_code: str | None = Field(default=None, max_length=40)


class CustomerStatus(StrEnum):
    PROSPECT = "prospect"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    INACTIVE = "inactive"


class Customer(CanonicalModel):
    """A client; CRM owns the relationship, ERP owns billing address and terms."""

    id: CanonicalId
    name: str = Field(min_length=1, max_length=200)
    legal_entity_id: CanonicalId
    country: CountryCode
    currency: CurrencyCode
    tax_profile: TaxProfile
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    billing_address: str | None = Field(default=None, max_length=1000)
    status: CustomerStatus = CustomerStatus.ACTIVE
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class EmploymentType(StrEnum):
    EMPLOYEE = "employee"
    CONTRACTOR = "contractor"


class WorkerStatus(StrEnum):
    PRE_HIRE = "pre_hire"
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    TERMINATED = "terminated"


class Worker(CanonicalModel):
    """A person who works for the firm; SoR: HRIS (Workday). The worker number is the HRIS's."""

    id: CanonicalId
    worker_number: str = Field(min_length=1, max_length=40)
    legal_entity_id: CanonicalId
    employment_type: EmploymentType
    status: WorkerStatus
    hire_date: CalendarDate
    termination_date: CalendarDate | None = None
    manager_id: CanonicalId | None = None
    org_unit_id: CanonicalId | None = None
    work_country: CountryCode
    work_calendar_id: CanonicalId | None = None
    home_currency: CurrencyCode
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class CostRate(CanonicalModel):
    """A dated hourly cost of a worker or role; SoR: HRIS/Finance."""

    worker_id: CanonicalId | None = None
    role_id: CanonicalId | None = None
    hourly_cost: Money
    effective_from: CalendarDate
    effective_to: CalendarDate | None = None


class Role(CanonicalModel):
    """A delivery role that drives rates (e.g. Senior Consultant); SoR: PSA/RM."""

    id: CanonicalId
    name: str = Field(min_length=1, max_length=200)
    default_bill_rate: Money | None = None
    default_cost_rate: Money | None = None
    refs: tuple[ExternalRef, ...] = ()


class Skill(CanonicalModel):
    """A skill or certification that resources are rated on; SoR: RM."""

    id: CanonicalId
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(min_length=1, max_length=100)


class SkillRating(CanonicalModel):
    """How well a worker masters a skill, 1 (aware) to 5 (expert)."""

    skill_id: CanonicalId
    level: int = Field(ge=1, le=5)
    certified_until: CalendarDate | None = None


class Resource(CanonicalModel):
    """A bookable resource; ``worker_id`` is None for a placeholder (unnamed) resource."""

    id: CanonicalId
    worker_id: CanonicalId | None = None
    primary_role_id: CanonicalId
    skills: tuple[SkillRating, ...] = ()
    capacity_minutes_per_week: Minutes = 2400
    utilization_target_pct: int = Field(default=75, ge=0, le=100)
    bookable: bool = True
    refs: tuple[ExternalRef, ...] = ()
