"""The CRM port over a Salesforce-like REST CRM: accounts, opportunities, and the ERP ids
written back onto them (customer onto the account, project code onto the won deal)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from tandem_connectors.errors import RequestRejected
from tandem_connectors.http import HttpTarget
from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports import (
    AbstractCrm,
    CrmAccount,
    CrmOpportunity,
    CrmOpportunityLine,
    Written,
)
from tandem_connectors.rest._changes import RecordChanges
from tandem_connectors.rest._records import checked_feed, decimal_money, optional_date, reading
from tandem_contracts import ExternalRef, SystemKind

__all__ = ["RestCrm", "crm_account", "crm_opportunity"]

logger = logging.getLogger(__name__)

_FEEDS = frozenset({"accounts", "opportunities"})


class RestCrm(AbstractCrm):
    """The CRM port over one REST CRM instance (the sandbox CRM speaks this API)."""

    def __init__(self, target: HttpTarget, *, instance: str) -> None:
        self.instance = instance
        self._target = target

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._target.aclose()

    async def account(self, external_id: str) -> CrmAccount:
        """The account as the CRM holds it now; ``NotFound`` if it does not exist."""
        return crm_account(await self.record("accounts", external_id))

    async def opportunity(self, external_id: str) -> CrmOpportunity:
        """The opportunity as the CRM holds it now; ``NotFound`` if it does not exist."""
        return crm_opportunity(await self.record("opportunities", external_id))

    async def read_account(self, record: Mapping[str, Any]) -> CrmAccount:
        """An account record of this CRM (webhook ``data`` or a feed record)."""
        return crm_account(record)

    async def read_opportunity(self, record: Mapping[str, Any]) -> CrmOpportunity:
        """An opportunity record of this CRM (webhook ``data`` or a feed record)."""
        return crm_opportunity(record)

    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (accounts, opportunities)."""
        return RecordChanges(self._target, f"/v1/{checked_feed('CRM', feed, _FEEDS)}")

    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """One record of ``feed`` as the CRM shows it."""
        reply = await self._target.request(
            "GET", f"/v1/{checked_feed('CRM', feed, _FEEDS)}/{external_id}"
        )
        record: Mapping[str, Any] = reply.json()
        return record

    async def link_project(self, opportunity: str, *, project_code: str, key: str) -> Written:
        """Write the ERP project code onto the won opportunity (once; never over another)."""
        current = await self.record("opportunities", opportunity)
        linked = current.get("erp_project_code")
        if linked == project_code:
            return self._written(current, project_code)
        if linked is not None:
            detail = f"opportunity {opportunity} carries project {linked}, not {project_code}"
            raise RequestRejected("opportunity_linked", detail)
        reply = await self._target.request(
            "PATCH",
            f"/v1/opportunities/{opportunity}",
            json={"erp_project_code": project_code},
            idempotency_key=key,
        )
        logger.info("linked opportunity %s to project %s", opportunity, project_code)
        return self._written(reply.json(), project_code)

    async def link_customer(self, account: str, *, erp_customer_id: str, key: str) -> Written:
        """Write the ERP customer's id onto the account (once; never over another)."""
        current = await self.record("accounts", account)
        linked = current.get("erp_customer_id")
        if linked == erp_customer_id:
            return self._written(current, None, "account")
        if linked is not None:
            detail = f"account {account} carries ERP customer {linked}, not {erp_customer_id}"
            raise RequestRejected("account_linked", detail)
        reply = await self._target.request(
            "PATCH",
            f"/v1/accounts/{account}",
            json={"erp_customer_id": erp_customer_id},
            idempotency_key=key,
        )
        logger.info("linked account %s to ERP customer %s", account, erp_customer_id)
        return self._written(reply.json(), None, "account")

    def _written(
        self, record: Mapping[str, Any], code: str | None, kind: str = "opportunity"
    ) -> Written:
        ref = ExternalRef(
            system=SystemKind.CRM,
            instance=self.instance,
            object_type=kind,
            external_id=record["id"],
            external_version=str(version) if (version := record.get("version")) else None,
        )
        return Written(ref, False, code)


def crm_account(record: Mapping[str, Any]) -> CrmAccount:
    """A CRM account record as the port's ``CrmAccount``."""
    with reading("CRM", "account", record):
        return CrmAccount(
            external_id=record["id"],
            version=int(record["version"]),
            name=record["name"],
            country=record["country"],
            currency=record["currency"],
            billing_address=record.get("billing_address"),
            industry=record.get("industry"),
            erp_customer_id=record.get("erp_customer_id"),
            updated_at=datetime.fromisoformat(record["updated_at"]),
            tax_id=record.get("tax_id"),
            tax_id_validated_at=_instant(record.get("vat_validated_at")),
        )


def _instant(value: str | None) -> datetime | None:
    """An ISO timestamp with its offset, or ``None`` when absent; a naive one is unreadable
    (which instant it names is a guess)."""
    if not value:
        return None
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError("a timestamp without an offset")
    return instant


def crm_opportunity(record: Mapping[str, Any]) -> CrmOpportunity:
    """A CRM opportunity record as the port's ``CrmOpportunity`` (lines in its currency)."""
    with reading("CRM", "opportunity", record):
        currency = record["currency"]
        return CrmOpportunity(
            external_id=record["id"],
            version=int(record["version"]),
            account_id=record["account_id"],
            name=record["name"],
            stage=record["stage"],
            amount=decimal_money(record["amount"], currency),
            close_date=date.fromisoformat(record["close_date"]),
            probability=int(record["probability"]),
            expected_start=optional_date(record.get("expected_start")),
            selling_entity=record.get("selling_entity"),
            owner=record.get("owner"),
            lines=tuple(_line(line, currency) for line in record.get("lines") or ()),
            erp_project_code=record.get("erp_project_code"),
            updated_at=datetime.fromisoformat(record["updated_at"]),
            delivery_units=tuple(record.get("delivery_units") or ()),
        )


def _line(line: Mapping[str, Any], currency: str) -> CrmOpportunityLine:
    return CrmOpportunityLine(
        role=line["role"],
        minutes=int(line["minutes"]),
        rate=decimal_money(line["rate"], currency),
        amount=decimal_money(line["amount"], currency),
    )
