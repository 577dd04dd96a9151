"""``FakeCrm``: a CRM in memory holding port records; its "records" are the port values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from tandem_connectors.errors import NotFound, RequestRejected, SystemUnavailable
from tandem_connectors.fakes._erp import _NoChanges
from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports import AbstractCrm, CrmAccount, CrmOpportunity, Written
from tandem_contracts import ExternalRef, SystemKind

__all__ = ["FakeCrm"]

V = TypeVar("V", CrmAccount, CrmOpportunity)
_FEEDS = {"accounts": "accounts", "opportunities": "opportunities"}


@dataclass
class FakeCrm(AbstractCrm):
    """A CRM in memory: a test puts accounts and opportunities in (``add``); a record of a
    feed is the value's fields with ``id`` and ``version`` (what ``read_*`` reads back).

    ``link_project`` and ``link_customer`` write back as the sandbox CRM does (a new version
    of the value, ``updated_at`` now); only an opportunity at ``won_stage`` takes a project
    code. ``down`` makes every call raise ``SystemUnavailable``.
    """

    instance: str = "crm-fake"
    won_stage: str = "Closed Won"
    down: bool = False
    accounts: dict[str, CrmAccount] = field(default_factory=dict)
    opportunities: dict[str, CrmOpportunity] = field(default_factory=dict)

    def add(self, *values: CrmAccount | CrmOpportunity) -> None:
        """Hold these values (replacing any with the same id)."""
        for value in values:
            if isinstance(value, CrmAccount):
                self.accounts[value.external_id] = value
            else:
                self.opportunities[value.external_id] = value

    def _check(self) -> None:
        if self.down:
            raise SystemUnavailable(f"crm:{self.instance}", "the fake CRM is down")

    async def account(self, external_id: str) -> CrmAccount:
        """The held account."""
        self._check()
        return _held(self.accounts, external_id)

    async def opportunity(self, external_id: str) -> CrmOpportunity:
        """The held opportunity."""
        self._check()
        return _held(self.opportunities, external_id)

    async def read_account(self, record: Mapping[str, Any]) -> CrmAccount:
        """The account a record names, as held."""
        return _held(self.accounts, str(record["id"]))

    async def read_opportunity(self, record: Mapping[str, Any]) -> CrmOpportunity:
        """The opportunity a record names, as held."""
        return _held(self.opportunities, str(record["id"]))

    def change_source(self, feed: str) -> ChangeSource:
        """No feed: tests land records themselves."""
        if feed not in _FEEDS:
            raise ValueError(f"the CRM has no feed {feed!r}; it has {sorted(_FEEDS)}")
        return _NoChanges()

    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """The held value of ``feed`` as a record."""
        self._check()
        if feed not in _FEEDS:
            raise ValueError(f"the CRM has no feed {feed!r}; it has {sorted(_FEEDS)}")
        held: dict[str, Any] = getattr(self, _FEEDS[feed])
        return self.record_of(_held(held, external_id))

    @staticmethod
    def record_of(value: CrmAccount | CrmOpportunity) -> dict[str, Any]:
        """A value as the record a feed or webhook would carry."""
        return {**dataclasses.asdict(value), "id": value.external_id, "version": value.version}

    async def link_project(self, opportunity: str, *, project_code: str, key: str) -> Written:
        """Write the project code onto the won opportunity (once; never over another)."""
        self._check()
        deal = _held(self.opportunities, opportunity)
        if deal.erp_project_code not in (None, project_code):
            raise RequestRejected(
                "opportunity_linked", f"{opportunity} carries project {deal.erp_project_code}"
            )
        if deal.erp_project_code is None:
            if deal.stage != self.won_stage:
                raise RequestRejected("opportunity_not_won", f"{opportunity} is {deal.stage}")
            deal = _next(deal, erp_project_code=project_code)
            self.opportunities[opportunity] = deal
        return Written(
            self._ref("opportunity", deal.external_id, deal.version), False, project_code
        )

    async def link_customer(self, account: str, *, erp_customer_id: str, key: str) -> Written:
        """Write the ERP customer id onto the account (once; never over another)."""
        self._check()
        held = _held(self.accounts, account)
        if held.erp_customer_id not in (None, erp_customer_id):
            raise RequestRejected(
                "account_linked", f"{account} carries ERP customer {held.erp_customer_id}"
            )
        if held.erp_customer_id is None:
            held = _next(held, erp_customer_id=erp_customer_id)
            self.accounts[account] = held
        return Written(self._ref("account", held.external_id, held.version), False)

    def _ref(self, kind: str, external_id: str, version: int) -> ExternalRef:
        return ExternalRef(
            system=SystemKind.CRM, instance=self.instance, object_type=kind,
            external_id=external_id, external_version=str(version),
        )  # fmt: skip


def _held(values: Mapping[str, V], external_id: str) -> V:
    if external_id not in values:
        raise NotFound(f"the fake CRM holds no {external_id}")
    return values[external_id]


def _next(value: V, **changes: Any) -> V:
    return dataclasses.replace(
        value, version=value.version + 1, updated_at=datetime.now(UTC), **changes
    )
