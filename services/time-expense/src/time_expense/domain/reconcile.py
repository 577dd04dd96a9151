"""Reconciliation: the PSA's approved time against what the ERP actually holds.

Compared per entry first (so a mismatch names the entries behind it), then per project, worker
and period (count and minutes) and per project, period and currency (bill amounts). Only a
missing posting is *repairable* by Tandem (re-drive it: the idempotency key makes that safe);
anything else — time in the ERP that the PSA does not hold as approved, doubled lines, wrong
minutes — is reported for a person to decide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tandem_contracts.events import MismatchKind

__all__ = ["ApprovedTime", "Mismatch", "PostedTime", "TimeRecord", "reconcile"]


@dataclass(frozen=True)
class TimeRecord:
    """Time one side holds for an entry: an approved entry in the PSA, or a line in the ERP
    (an ERP reversal has negative minutes and amount)."""

    entry_id: str
    project_id: str
    worker_id: str
    work_date: date
    minutes: int
    amount: Decimal | None = None
    currency: str | None = None


ApprovedTime = TimeRecord
PostedTime = TimeRecord


@dataclass(frozen=True)
class Mismatch:
    """One disagreement, for one scope (an entry, or a project/worker/period)."""

    kind: MismatchKind
    scope_key: str
    project_id: str
    worker_id: str | None
    period: str
    source_value: str
    target_value: str
    entry_ids: tuple[str, ...]
    repairable: bool


def reconcile(approved: Iterable[ApprovedTime], posted: Iterable[PostedTime]) -> list[Mismatch]:
    """Every disagreement between approved and posted time, entries first, then totals."""
    psa = {a.entry_id: a for a in approved}
    erp: dict[str, list[PostedTime]] = defaultdict(list)
    for line in posted:
        erp[line.entry_id].append(line)
    found = [m for entry_id in sorted(psa.keys() | erp.keys()) for m in _entry(entry_id, psa, erp)]
    lines = [line for group in erp.values() for line in group]
    return found + _totals(psa.values(), lines) + _amounts(psa.values(), lines)


def _entry(
    entry_id: str, psa: dict[str, ApprovedTime], erp: dict[str, list[PostedTime]]
) -> list[Mismatch]:
    source, lines = psa.get(entry_id), erp.get(entry_id, [])
    net = sum(line.minutes for line in lines)
    live = sum(1 for line in lines if line.minutes > 0) - sum(
        1 for line in lines if line.minutes < 0
    )
    about = source or lines[0]

    def mismatch(
        kind: MismatchKind, source_value: str, target_value: str, repairable: bool = False
    ) -> Mismatch:
        return Mismatch(
            kind=kind,
            scope_key=f"entry:{entry_id}",
            project_id=about.project_id,
            worker_id=about.worker_id,
            period=about.work_date.strftime("%Y-%m"),
            source_value=source_value,
            target_value=target_value,
            entry_ids=(entry_id,),
            repairable=repairable,
        )

    if source is not None and live <= 0:
        return [mismatch(MismatchKind.MISSING_IN_TARGET, f"{source.minutes} min", "none", True)]
    if source is None and net != 0:
        return [mismatch(MismatchKind.MISSING_IN_SOURCE, "not approved", f"{net} min")]
    if source is not None and live > 1:
        return [mismatch(MismatchKind.DUPLICATE_IN_TARGET, "1 line", f"{live} lines")]
    if source is not None and net != source.minutes:
        return [mismatch(MismatchKind.MINUTES_DIFFER, f"{source.minutes} min", f"{net} min")]
    return []


def _totals(approved: Iterable[ApprovedTime], posted: list[PostedTime]) -> list[Mismatch]:
    """Count and minutes per project, worker and period."""
    psa: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    erp: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for a in approved:
        scope = psa[(a.project_id, a.worker_id, a.work_date.strftime("%Y-%m"))]
        scope[0], scope[1] = scope[0] + 1, scope[1] + a.minutes
    for p in posted:
        scope = erp[(p.project_id, p.worker_id, p.work_date.strftime("%Y-%m"))]
        scope[0] += 1 if p.minutes > 0 else -1 if p.minutes < 0 else 0
        scope[1] += p.minutes
    found = []
    for key in sorted(psa.keys() | erp.keys()):
        (count_a, minutes_a), (count_p, minutes_p) = psa.get(key, [0, 0]), erp.get(key, [0, 0])
        project_id, worker_id, period = key
        for kind, expected, actual in (
            (MismatchKind.COUNT_DIFFERS, count_a, count_p),
            (MismatchKind.MINUTES_DIFFER, minutes_a, minutes_p),
        ):
            if expected != actual:
                found.append(
                    Mismatch(
                        kind=kind,
                        scope_key=f"scope:{project_id}:{worker_id}:{period}",
                        project_id=project_id,
                        worker_id=worker_id,
                        period=period,
                        source_value=str(expected),
                        target_value=str(actual),
                        entry_ids=(),
                        repairable=False,
                    )
                )
    return found


def _amounts(approved: Iterable[ApprovedTime], posted: list[PostedTime]) -> list[Mismatch]:
    """Amounts per project, period and currency, where both sides price the time."""
    sums: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
    priced: list[tuple[int, TimeRecord]] = [(0, a) for a in approved]
    priced += [(1, p) for p in posted]
    for side, r in priced:
        if r.amount is not None and r.currency is not None:
            sums[(r.project_id, r.work_date.strftime("%Y-%m"), r.currency)][side] += r.amount
    return [
        Mismatch(
            kind=MismatchKind.AMOUNT_DIFFERS,
            scope_key=f"amount:{project_id}:{period}:{currency}",
            project_id=project_id,
            worker_id=None,
            period=period,
            source_value=f"{a} {currency}",
            target_value=f"{p} {currency}",
            entry_ids=(),
            repairable=False,
        )
        for (project_id, period, currency), (a, p) in sorted(sums.items())
        if a != p
    ]
