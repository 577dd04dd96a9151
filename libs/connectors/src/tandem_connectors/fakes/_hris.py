"""``FakeHris``: an HRIS in memory holding port records; its "records" are the port values'
fields (``id`` for ``external_id``), as a webhook or a feed of the sandbox carries them whole."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem_connectors.errors import NotFound, SystemUnavailable
from tandem_connectors.fakes._erp import _NoChanges
from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports import AbstractHris, HrisCostRate, HrisWorker

__all__ = ["FakeHris", "hris_record"]

_FEEDS = frozenset({"workers", "cost-rates"})


def hris_record(value: HrisWorker | HrisCostRate) -> dict[str, Any]:
    """The record a fake HRIS sends for ``value`` (what ``read_worker`` / ``read_cost_rate``
    read back)."""
    fields = {item.name: getattr(value, item.name) for item in dataclasses.fields(value)}
    return {"id": fields.pop("external_id"), **fields}


def _value(kind: type[Any], record: Mapping[str, Any]) -> Any:
    names = {item.name for item in dataclasses.fields(kind)} - {"external_id"}
    return kind(external_id=record["id"], **{name: record[name] for name in names})


@dataclass
class FakeHris(AbstractHris):
    """An HRIS in memory: a test puts workers and cost rates in (``add``); ``down`` makes every
    call raise ``SystemUnavailable``; ``calls`` counts the reads of a worker's rates."""

    instance: str = "hris-fake"
    down: bool = False
    workers: dict[str, HrisWorker] = field(default_factory=dict)
    rates: dict[str, HrisCostRate] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def add(self, *values: HrisWorker | HrisCostRate) -> None:
        """Hold these values (replacing any with the same id)."""
        for value in values:
            if isinstance(value, HrisWorker):
                self.workers[value.external_id] = value
            else:
                self.rates[value.external_id] = value

    def _check(self) -> None:
        if self.down:
            raise SystemUnavailable(f"hris:{self.instance}", "the fake HRIS is down")

    async def worker(self, external_id: str) -> HrisWorker:
        """The held worker; ``NotFound`` if none."""
        self._check()
        if external_id not in self.workers:
            raise NotFound(f"the fake HRIS holds no worker {external_id}")
        return self.workers[external_id]

    async def cost_rates(self, external_id: str) -> list[HrisCostRate]:
        """The worker's held rates, oldest first; ``NotFound`` for an unknown worker."""
        await self.worker(external_id)
        self.calls.append(f"cost_rates:{external_id}")
        held = [rate for rate in self.rates.values() if rate.worker_id == external_id]
        return sorted(held, key=lambda rate: rate.effective_from)

    async def read_worker(self, record: Mapping[str, Any]) -> HrisWorker:
        """A worker record of this fake (``hris_record`` of a worker)."""
        worker: HrisWorker = _value(HrisWorker, record)
        return worker

    async def read_cost_rate(self, record: Mapping[str, Any]) -> HrisCostRate:
        """A cost-rate record of this fake (``hris_record`` of a rate)."""
        rate: HrisCostRate = _value(HrisCostRate, record)
        return rate

    def change_source(self, feed: str) -> ChangeSource:
        """No changes: a test lands records itself."""
        if feed not in _FEEDS:
            raise ValueError(f"the HRIS has no feed {feed!r}")
        return _NoChanges()

    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """The held worker's record, or the held cost rate's."""
        if feed not in _FEEDS:
            raise ValueError(f"the HRIS has no feed {feed!r}")
        if feed == "cost-rates":
            if external_id not in self.rates:
                raise NotFound(f"the fake HRIS holds no cost rate {external_id}")
            return hris_record(self.rates[external_id])
        return hris_record(await self.worker(external_id))
