"""The HRIS port over a Workday-like REST HRIS: workers and their effective-dated cost rates.

Only the fields Tandem syncs are read: a worker's first and last names are never read from
the record, so they cannot reach a port dataclass, an event or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tandem_connectors.http import HttpTarget
from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports import AbstractHris, HrisCostRate, HrisWorker
from tandem_connectors.rest._changes import RecordChanges, pages
from tandem_connectors.rest._records import checked_feed, optional_date, reading
from tandem_contracts import Money

__all__ = ["RestHris", "hris_cost_rate", "hris_worker"]

_FEEDS = frozenset({"workers", "cost-rates"})


class RestHris(AbstractHris):
    """The HRIS port over one REST HRIS instance (the sandbox HRIS speaks this API)."""

    def __init__(self, target: HttpTarget, *, instance: str) -> None:
        self.instance = instance
        self._target = target

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._target.aclose()

    async def worker(self, external_id: str) -> HrisWorker:
        """The worker as the HRIS holds it now; ``NotFound`` if it does not exist."""
        return hris_worker(await self.record("workers", external_id))

    async def cost_rates(self, external_id: str) -> list[HrisCostRate]:
        """The worker's dated cost rates, oldest first; ``NotFound`` for an unknown worker."""
        records = await pages(self._target, f"/v1/workers/{external_id}/cost-rates")
        rates = [hris_cost_rate(record) for record in records]
        return sorted(rates, key=lambda rate: rate.effective_from)

    async def read_worker(self, record: Mapping[str, Any]) -> HrisWorker:
        """A worker record of this HRIS (webhook ``data`` or a feed record)."""
        return hris_worker(record)

    async def read_cost_rate(self, record: Mapping[str, Any]) -> HrisCostRate:
        """A cost-rate record of this HRIS (the data of a ``cost_rate.changed`` event)."""
        return hris_cost_rate(record)

    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (workers, cost-rates)."""
        return RecordChanges(self._target, f"/v1/{checked_feed('HRIS', feed, _FEEDS)}")

    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """One record of ``feed`` as the HRIS shows it."""
        reply = await self._target.request(
            "GET", f"/v1/{checked_feed('HRIS', feed, _FEEDS)}/{external_id}"
        )
        record: Mapping[str, Any] = reply.json()
        return record


def hris_worker(record: Mapping[str, Any]) -> HrisWorker:
    """An HRIS worker record as the port's ``HrisWorker`` (names left behind)."""
    with reading("HRIS", "worker", record):
        return HrisWorker(
            external_id=record["id"],
            version=int(record["version"]),
            worker_number=record["worker_number"],
            legal_entity=record["company"],
            employment_type=record.get("employment_type") or "employee",
            status=record["status"],
            hire_date=date.fromisoformat(record["hire_date"]),
            termination_date=optional_date(record.get("termination_date")),
            manager_id=record.get("manager_id"),
            org_unit=record.get("org_unit"),
            work_country=record["location_country"],
            work_calendar=record.get("work_calendar"),
            home_currency=record["home_currency"],
            updated_at=datetime.fromisoformat(record["updated_at"]),
            email=record.get("email"),
            role=record.get("job_title") or None,
            effective_date=optional_date(record.get("effective_date")),
        )


def hris_cost_rate(record: Mapping[str, Any]) -> HrisCostRate:
    """An HRIS cost-rate record as the port's ``HrisCostRate``."""
    with reading("HRIS", "cost rate", record):
        amount = record["amount"]
        if not isinstance(amount, str):
            # The wire carries decimal strings: a JSON number may already have lost its cents.
            raise TypeError(f"the amount is {type(amount).__name__}, not a decimal string")
        return HrisCostRate(
            external_id=record["id"],
            worker_id=record["worker_id"],
            hourly_cost=Money(amount=Decimal(amount), currency=record["currency"]),
            effective_from=date.fromisoformat(record["effective_from"]),
            effective_to=optional_date(record.get("effective_to")),
            version=int(record["version"]),
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )
