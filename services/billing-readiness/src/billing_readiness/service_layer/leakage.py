"""Revenue leakage (DOMAIN.md §5): value earned and not billed, found from the charges and from
the approved time that never became one.

The domain's ``find_leaks`` reads the charges: billable value not invoiced after
``leakage_after_days`` (held or written off included: ``NOT_INVOICED``) and work beyond a cap
(``CAP_EXCEEDED``). ``not_charged`` adds what only this service knows: approved billable time
still not posted (or refused on its way to the ERP) ``leakage_after_days`` after its approval
(``NOT_CHARGED``), worth its minutes at the bill rate frozen on approval (counted at zero when
it was approved without one). ``BELOW_RATE_CARD``: time charged at a frozen rate below the
rate card's for its role at its work date (the published cards, resolved as
``tandem_pricing`` resolves every rate), worth the difference x its hours.

``leaks_now`` answers the report for the API, over every project with a charge not invoiced
(written-off overage included) or with such time. The scheduled ``report_leakage`` announces
each project's leak of each kind once a day as ``RevenueLeakageDetected`` (ids and amounts
only), the day recorded in ``billing_readiness.leakage`` in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from billing_readiness.domain import ChargeView, Leak, find_leaks
from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.standing import version_at
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork, PendingTime
from tandem_contracts import Envelope, Money, Producer
from tandem_contracts.events import LeakageKind, RevenueLeakageDetected

__all__ = ["MAX_ITEM_IDS", "leaks_now", "not_charged", "report_leakage"]

logger = logging.getLogger(__name__)

MAX_ITEM_IDS = 500
"""The most item ids a ``RevenueLeakageDetected`` carries (``item_count`` counts them all)."""
_ORDER = list(LeakageKind)


def not_charged(
    project_id: str,
    pending: Sequence[PendingTime],
    *,
    today: date,
    after_days: int,
    currency: str | None,
) -> Leak | None:
    """The project's ``NOT_CHARGED`` leak: its entries approved more than ``after_days``
    before ``today`` and still not charged, worth the sum of their values in ``currency``
    (the project's; when unknown, that of the first valued entry). Entries without a value,
    or in another currency, count as items at zero. None when nothing leaks, or when there is
    no currency to say the amount in."""
    old = [
        p
        for p in pending
        if p.project_id == project_id
        and (today - p.approved_at.astimezone(UTC).date()).days > after_days
    ]
    if not old:
        return None
    currency = currency or next((p.value.currency for p in old if p.value is not None), None)
    if currency is None:
        return None
    total = sum(
        (p.value.amount for p in old if p.value is not None and p.value.currency == currency),
        Decimal(0),
    )
    old.sort(key=lambda p: (p.work_date, p.time_entry_id))
    return Leak(
        project_id=project_id, kind=LeakageKind.NOT_CHARGED,
        amount=Money(amount=total, currency=currency),
        item_ids=tuple(p.time_entry_id for p in old), oldest=old[0].work_date,
    )  # fmt: skip


def _approved_before(today: date, after_days: int) -> datetime:
    """Approvals before this instant are old enough to leak ``today``."""
    return datetime.combine(today - timedelta(days=after_days), time.min, UTC)


async def _leaks_of(
    uow: AbstractUnitOfWork, deps: Dependencies, project_id: str, today: date
) -> list[Leak]:
    """Every leak of one project, by kind."""
    after = deps.settings.leakage_after_days
    views = [
        ChargeView(record.line, record.status == "invoiced")
        for record in await uow.charges.open_to_report(project_id)
    ]
    standard = await uow.charges.standard_rates(project_id)
    leaks = find_leaks(views, today=today, after_days=after, standard_rates=standard)
    pending = await uow.pending.approved_before(_approved_before(today, after), project_id)
    known = await uow.projects.get(project_id)
    currency = known.terms.currency if known is not None else None
    unposted = not_charged(project_id, pending, today=today, after_days=after, currency=currency)
    if unposted is not None:
        leaks.append(unposted)
    return sorted(leaks, key=lambda leak: _ORDER.index(leak.kind))


async def _projects(uow: AbstractUnitOfWork, deps: Dependencies, today: date) -> list[str]:
    """The projects that may leak: those with a charge not invoiced (billable, held or
    written off) or with approved time not charged for long enough."""
    since = _approved_before(today, deps.settings.leakage_after_days)
    unposted = {p.project_id for p in await uow.pending.approved_before(since, None)}
    return sorted(set(await uow.charges.projects_with_open()) | unposted)


async def leaks_now(deps: Dependencies, project_id: str | None) -> list[Leak]:
    """The leaks of one project, or of every project with charges not invoiced or old
    approved time not charged; by project, then kind."""
    today = deps.clock().date()
    async with deps.transactions() as uow:
        projects = [project_id] if project_id else await _projects(uow, deps, today)
        leaks: list[Leak] = []
        for project in projects:
            leaks += await _leaks_of(uow, deps, project, today)
    return leaks


async def report_leakage(deps: Dependencies, *, service: str) -> int:
    """Announce every leak not announced today yet, one transaction per project (the
    scheduled job); answer how many were announced. A project billing-readiness does not
    know (its time approved, never activated) has no entity to announce it for: skipped."""
    today = deps.clock().date()
    async with deps.transactions() as uow:
        projects = await _projects(uow, deps, today)
    announced = 0
    for project in projects:
        async with deps.transactions() as uow:
            known = await uow.projects.get(project)
            if known is None:
                logger.info("leakage of %s not announced: the project is not active", project)
                continue
            now = deps.clock()
            leaks = await _leaks_of(uow, deps, project, today)
            for index, leak in enumerate(leaks):
                if not await uow.charges.record_leak(leak, today):
                    continue  # announced today already
                event = RevenueLeakageDetected(
                    project_id=project, kind=leak.kind, amount=leak.amount,
                    item_ids=leak.item_ids[:MAX_ITEM_IDS], item_count=len(leak.item_ids),
                    oldest=leak.oldest, detected_at=now,
                )  # fmt: skip
                await uow.publish(
                    Envelope.new(
                        event, producer=Producer(service=service),
                        tenant_id=deps.settings.tenant_id,
                        legal_entity_id=known.terms.legal_entity_id,
                        data_residency_region=known.region,
                        correlation_id=known.correlation_id or project,
                        subject_version=version_at(now) + index,
                        idempotency_key=f"RevenueLeakageDetected:{project}:{leak.kind}:{today}",
                    )
                )  # fmt: skip
                announced += 1
    return announced
