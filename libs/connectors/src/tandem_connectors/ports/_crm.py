"""The CRM port: customers (accounts) and opportunities."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports._common import Written
from tandem_contracts import Money

__all__ = ["AbstractCrm", "CrmAccount", "CrmOpportunity", "CrmOpportunityLine"]


@dataclass(frozen=True, slots=True)
class CrmAccount:
    """An account (a customer relationship) as the CRM holds it now, in CRM ids.

    ``erp_customer_id`` is the ERP customer written back onto the account, when one was
    (``AbstractCrm.link_customer``); ``tax_id`` is the account's VAT or tax registration
    number as the CRM holds it (unchecked: validating it is the consuming service's business).
    ``tax_id_validated_at`` is when the CRM (its VIES app) confirmed that number, tz-aware;
    the CRM clears it when the number changes, so it vouches for ``tax_id`` as it is now.
    """

    external_id: str
    version: int
    name: str
    country: str
    currency: str
    billing_address: str | None
    industry: str | None
    erp_customer_id: str | None
    updated_at: datetime
    tax_id: str | None = None
    tax_id_validated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CrmOpportunityLine:
    """A line of the deal: a role (the CRM's name for it) for some minutes at a rate."""

    role: str
    minutes: int
    rate: Money
    amount: Money


@dataclass(frozen=True, slots=True)
class CrmOpportunity:
    """An opportunity as the CRM holds it now, in CRM ids; ``stage`` is the CRM's own name.

    ``selling_entity`` is the selling legal entity as the CRM names it; ``erp_project_code``
    is the ERP project code once written back (``AbstractCrm.link_project``). Mapping the
    stage to a canonical ``OpportunityStatus`` is the consuming service's business.
    """

    external_id: str
    version: int
    account_id: str
    name: str
    stage: str
    amount: Money
    close_date: date
    probability: int
    expected_start: date | None
    selling_entity: str | None
    owner: str | None
    lines: tuple[CrmOpportunityLine, ...]
    erp_project_code: str | None
    updated_at: datetime
    delivery_units: tuple[str, ...] = ()
    """The org units (practice, region) that will deliver the deal, as the CRM names them."""


class AbstractCrm(ABC):
    """The CRM: customers (accounts) and opportunities moving through sales stages.

    Feeds (for ``change_source`` and ``record``) are named after the CRM's collections:
    ``accounts`` and ``opportunities``; a record shows up again each time it changes (a stage
    change, a write-back). An unknown feed name raises ``ValueError`` (a programming error).
    Records are answered in CRM ids; the consuming service maps them to canonical entities.
    A record the adapter cannot read raises ``UnexpectedResponse``.
    """

    instance: str

    @abstractmethod
    async def account(self, external_id: str) -> CrmAccount:
        """The account as the CRM holds it now; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def opportunity(self, external_id: str) -> CrmOpportunity:
        """The opportunity as the CRM holds it now; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def read_account(self, record: Mapping[str, Any]) -> CrmAccount:
        """An account record in this CRM's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_opportunity(self, record: Mapping[str, Any]) -> CrmOpportunity:
        """An opportunity record in this CRM's own shape (a webhook's or a feed's)."""

    @abstractmethod
    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (``accounts``, ``opportunities``), for a
        ``polling.Poller``; a record may show up again (at-least-once)."""

    @abstractmethod
    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """One record of ``feed`` in this CRM's own shape (to land it again when repairing)."""

    @abstractmethod
    async def link_project(self, opportunity: str, *, project_code: str, key: str) -> Written:
        """Write the ERP project code back onto the won opportunity.

        Answers the opportunity's reference with ``code`` = ``project_code``; ``created`` is
        false. Writing the code it already carries changes nothing. Raises
        ``RequestRejected`` (reason ``opportunity_not_won``) when the opportunity is not won,
        and (reason ``opportunity_linked``) when it carries another project code already;
        ``NotFound`` if it does not exist.
        """

    @abstractmethod
    async def link_customer(self, account: str, *, erp_customer_id: str, key: str) -> Written:
        """Write the ERP customer's id back onto the account.

        Answers the account's reference (``object_type`` ``account``; ``code`` None;
        ``created`` false). Writing the id it already carries changes nothing. Raises
        ``RequestRejected`` (reason ``account_linked``) when the account carries another ERP
        customer already, and ``NotFound`` if it does not exist.
        """
