"""Accounting periods closed or reopened in the ERP, announced (DOMAIN.md §4.3).

The ERP is the system of record of periods and pushes nothing (Tryton has no outbound events),
so a scheduled job reads each entity's periods and compares them with what time-expense knows:
a period newly closed (or locked) becomes ``PeriodClosed``, one opened again ``PeriodReopened``
— which releases what was held for finance until it reopened. A period seen for the first time
is only recorded: there is no earlier state it changed from.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tandem_connectors.directory import ErpDirectory, ErpTarget
from tandem_contracts import Envelope, Event, Producer, SystemKind
from tandem_contracts.entities import AccountingPeriod, PeriodStatus
from tandem_contracts.events import PeriodClosed, PeriodReopened
from tandem_messaging import Transactions
from time_expense.service_layer.policies import Clock
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["watch_periods"]

_BACK, _AHEAD = timedelta(days=400), timedelta(days=62)


async def watch_periods(
    transactions: Transactions[AbstractUnitOfWork],
    erps: ErpDirectory,
    tenant_id: str,
    clock: Clock,
) -> int:
    """Compare every entity's periods in its ERP with those known; announce the changes.
    Answer how many were announced."""
    async with transactions() as uow:
        entities = await uow.reference.legal_entities()
    announced = 0
    for entity in entities:
        async with transactions() as uow:
            announced += await _watch(uow, erps, entity, tenant_id, clock)
    return announced


async def _watch(
    uow: AbstractUnitOfWork, erps: ErpDirectory, entity: str, tenant_id: str, clock: Clock
) -> int:
    region = await uow.reference.entity_region(entity)
    if region is None:
        return 0
    target = erps.target(entity, region)
    company = await erps.company(uow.refs, target, entity)
    if company is None:
        return 0
    today = clock().date()
    start, end = (today - _BACK).replace(day=1), today + _AHEAD
    fetched = await target.erp.list_periods(
        company=company, legal_entity_id=entity, start=start, end=end
    )
    known = {p.start_date: p for p in await uow.reference.periods(entity, start)}
    envelopes = []
    for period in fetched:
        before = known.get(period.start_date)
        if before is not None and before.status == period.status:
            continue
        await uow.reference.save_period(period)
        event = _change(before, period, clock)
        if event is not None:
            envelopes.append(_envelope(event, period, target, region, tenant_id, clock))
    await uow.publish(*envelopes)
    return len(envelopes)


def _change(
    before: AccountingPeriod | None, period: AccountingPeriod, clock: Clock
) -> Event | None:
    if before is None:
        return None
    if period.status is PeriodStatus.OPEN:
        return PeriodReopened(period=period, reopened_at=clock())
    if before.status is PeriodStatus.OPEN:
        return PeriodClosed(period=period, closed_at=clock())
    return None  # closed <-> locked: still not open


def _envelope(
    event: Event,
    period: AccountingPeriod,
    target: ErpTarget,
    region: str,
    tenant_id: str,
    clock: Clock,
) -> Envelope[Any]:
    return Envelope.new(
        event,
        producer=Producer(service="time-expense", system=SystemKind.ERP, instance=target.instance),
        tenant_id=tenant_id,
        legal_entity_id=period.legal_entity_id,
        data_residency_region=region,
        correlation_id=period.id,
        # Changes of one period are announced in time order: the clock orders its versions.
        subject_version=int(clock().timestamp() * 1000),
    )
