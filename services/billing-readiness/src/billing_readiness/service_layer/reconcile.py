"""Reconciliation: the invoices billing-readiness posted against the ERP's, and its charges
against its invoices.

Per ERP company of each seller entity it invoiced in (an invoice's seller and ERP instance),
its invoices and credit notes dated in the recent months (this one and the last by default)
are compared with the company's ``customer_invoices`` of those dates, by the key each was
written under (its invoice id):

* ``MISSING_IN_TARGET``: posted here, and not in the ERP (or no longer posted there);
* ``AMOUNT_DIFFERS``: the ERP's subtotal differs from the proposed one, or its total from the
  total it answered at posting, or its currency;
* ``MISSING_IN_SOURCE``: posted in the ERP under one of our keys (``inv-...``) and never
  recorded here as posted; left out while its proposal is younger than ``QUIET`` (it may be
  posting now);
* ``DUPLICATE_IN_TARGET``: two invoices or more under one key.

Within billing-readiness: every charge marked invoiced is on an invoice it recorded
(``MISSING_IN_TARGET``, scope ``charges:<project>``), and the charges on each invoice of the
window sum to its subtotal (``AMOUNT_DIFFERS``, scope ``invoice-charges:<invoice>``).

A company that cannot be compared now (the ERP unreachable, the company unknown, its instance
no longer configured) is reported as skipped, the others still are. Nothing is repaired:
each mismatch is a person's. The scheduled job announces each as ``ReconciliationMismatch``
(source and target both ``erp``: the charges come from the ERP's postings, the invoices are
its own) and answers how many it found; ``GET /v1/reconciliation`` answers them unannounced.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.standing import version_at
from billing_readiness.service_layer.unit_of_work import ChargeRecord, InvoiceTotals
from tandem_connectors.directory import ErpTarget
from tandem_connectors.errors import ConnectorError
from tandem_connectors.ports import ErpInvoice
from tandem_contracts import Envelope, Money, Producer, SystemKind, uuid7
from tandem_contracts.events import MismatchKind, ReconciliationMismatch

__all__ = [
    "QUIET",
    "RECENT_MONTHS",
    "Checked",
    "Mismatch",
    "Report",
    "compare_charges",
    "compare_invoices",
    "reconcile",
    "unrecorded_invoices",
]

logger = logging.getLogger(__name__)

RECENT_MONTHS = 2
"""The months compared by default: this one and the last."""
QUIET = timedelta(minutes=5)
"""An invoice proposed more recently than this may be between the ERP and its record."""
_OURS = re.compile(r"inv-[A-Za-z0-9_\-:]{1,60}")
"""An ERP key that may be one of ours: every invoice id billing-readiness mints is ``inv-``
and hex digits, and is written as its invoice's key."""
_POSTED = frozenset({"posted", "paid"})  # ERP states of a posted invoice (Tryton: paid too)
_MAX_ITEMS = 100
_ORPHANS = 1000


class Mismatch(NamedTuple):
    """One disagreement, in the shape ``ReconciliationMismatch`` announces it."""

    kind: MismatchKind
    scope_key: str
    legal_entity_id: str | None
    project_id: str | None
    period: str | None
    currency: str | None
    source_value: str
    target_value: str
    item_ids: tuple[str, ...]


class Checked(NamedTuple):
    """One ERP company compared: how many invoices each side had, or why it was skipped."""

    legal_entity_id: str
    instance: str
    company: str | None
    ours: int
    theirs: int
    skipped: str | None


class Report(NamedTuple):
    """A reconciliation run: its window, the companies compared and what disagreed."""

    run_id: str
    start: date
    end: date
    companies: tuple[Checked, ...]
    mismatches: tuple[Mismatch, ...]


def _amounts(currency: str, subtotal: Decimal | None, total: Decimal | None) -> str:
    def shown(amount: Decimal | None) -> str:
        return "?" if amount is None else f"{Money(amount=amount, currency=currency).amount}"

    return f"{currency} subtotal {shown(subtotal)} total {shown(total)}"


def _ours(invoice: InvoiceTotals) -> str:
    shown = _amounts(invoice.currency, invoice.subtotal, invoice.erp_total)
    return f"{invoice.status} {invoice.number or ''} {shown}".replace("  ", " ")


def _theirs(invoice: ErpInvoice) -> str:
    shown = _amounts(invoice.currency, invoice.subtotal.amount, invoice.total.amount)
    return f"{invoice.state} {invoice.number or ''} {shown}".replace("  ", " ")


def _mismatch(
    kind: MismatchKind, entity: str | None, invoice: InvoiceTotals | None, key: str,
    source: str, target: str,
) -> Mismatch:  # fmt: skip
    return Mismatch(
        kind=kind, scope_key=f"invoice:{key}", legal_entity_id=entity,
        project_id=invoice.project_id if invoice else None,
        period=invoice.period if invoice else None,
        currency=invoice.currency if invoice else None, source_value=source[:200],
        target_value=target[:200], item_ids=(key,),
    )  # fmt: skip


def compare_invoices(
    ours: Sequence[InvoiceTotals],
    theirs: Sequence[ErpInvoice],
    *,
    legal_entity_id: str,
    settled_before: datetime,
) -> list[Mismatch]:
    """The disagreements between our invoices and one ERP company's (module docstring). An
    ERP invoice under no key, or under a key that is not ours, is none of our business."""
    recorded = {invoice.invoice_id: invoice for invoice in ours}
    by_key: dict[str, list[ErpInvoice]] = defaultdict(list)
    for invoice in theirs:
        if invoice.key and (invoice.key in recorded or _OURS.fullmatch(invoice.key)):
            by_key[invoice.key].append(invoice)
    found: list[Mismatch] = []
    entity = legal_entity_id
    for key, held in sorted(by_key.items()):
        mine = recorded.get(key)
        if len(held) > 1:
            numbers = ", ".join(sorted(i.number or i.ref.external_id for i in held))
            found.append(_mismatch(MismatchKind.DUPLICATE_IN_TARGET, entity, mine, key,
                                   "1 invoice", f"{len(held)} invoices: {numbers}"))  # fmt: skip
            continue
        [erp] = held
        if mine is None or mine.status != "posted":
            settled = mine is None or mine.proposed_at < settled_before
            if erp.state in _POSTED and settled:
                source = f"{mine.status} (never posted here)" if mine else "never recorded"
                found.append(_mismatch(MismatchKind.MISSING_IN_SOURCE, entity, mine, key,
                                       source, _theirs(erp)))  # fmt: skip
            continue
        if erp.state not in _POSTED:
            found.append(_mismatch(MismatchKind.MISSING_IN_TARGET, entity, mine, key,
                                   _ours(mine), _theirs(erp)))  # fmt: skip
        elif (
            erp.currency != mine.currency
            or erp.subtotal.amount != mine.subtotal
            or (mine.erp_total is not None and erp.total.amount != mine.erp_total)
        ):
            found.append(_mismatch(MismatchKind.AMOUNT_DIFFERS, entity, mine, key,
                                   _ours(mine), _theirs(erp)))  # fmt: skip
    for mine in ours:
        if mine.status == "posted" and mine.invoice_id not in by_key:
            found.append(_mismatch(MismatchKind.MISSING_IN_TARGET, entity, mine,
                                   mine.invoice_id, _ours(mine), "none"))  # fmt: skip
    return found


def compare_charges(ours: Sequence[InvoiceTotals]) -> list[Mismatch]:
    """Invoices whose charges do not sum to their subtotal (a proposal's subtotal is the sum
    of the charges it settles, to the cent)."""
    found = []
    for invoice in ours:
        if invoice.charged == invoice.subtotal:
            continue
        mismatch = Mismatch(
            kind=MismatchKind.AMOUNT_DIFFERS, scope_key=f"invoice-charges:{invoice.invoice_id}",
            legal_entity_id=invoice.seller_entity, project_id=invoice.project_id,
            period=invoice.period, currency=invoice.currency,
            source_value=f"{invoice.charges} charges: {invoice.currency} {invoice.charged}",
            target_value=f"subtotal {invoice.currency} {invoice.subtotal}",
            item_ids=(invoice.invoice_id,),
        )  # fmt: skip
        found.append(mismatch)
    return found


def unrecorded_invoices(records: Sequence[ChargeRecord]) -> list[Mismatch]:
    """Charges marked invoiced on an invoice never recorded: one mismatch per project."""
    by_project: dict[str, list[ChargeRecord]] = defaultdict(list)
    for record in records:
        by_project[record.line.project_id].append(record)
    found = []
    for project_id, charges in sorted(by_project.items()):
        named = sorted({c.invoice_id or "none" for c in charges})
        total = sum((c.line.amount.amount for c in charges), Decimal(0))
        mismatch = Mismatch(
            kind=MismatchKind.MISSING_IN_TARGET, scope_key=f"charges:{project_id}",
            legal_entity_id=None, project_id=project_id, period=None,
            currency=charges[0].line.amount.currency,
            source_value=f"{len(charges)} charges invoiced: {total}",
            target_value=f"no recorded invoice {', '.join(named)}"[:200],
            item_ids=tuple(c.line.id for c in charges[:_MAX_ITEMS]),
        )  # fmt: skip
        found.append(mismatch)
    return found


def _window(today: date, months: int) -> date:
    """The first day of the month ``months - 1`` before ``today``'s."""
    index = today.year * 12 + today.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


async def _company(
    deps: Dependencies, entity: str, instance: str, ours: list[InvoiceTotals],
    start: date, end: date, settled_before: datetime,
) -> tuple[Checked, list[Mismatch]]:  # fmt: skip
    """Compare one seller entity's invoices with its company's in ``instance``."""

    def skipped(why: str, company: str | None = None) -> tuple[Checked, list[Mismatch]]:
        logger.warning("reconciliation of %s in %s skipped: %s", entity, instance, why)
        return Checked(entity, instance, company, len(ours), 0, why), []

    erp = deps.erps.adapters.get(instance)
    if erp is None:
        return skipped("instance_not_configured")
    try:
        async with deps.transactions() as uow:
            company = await deps.erps.company(uow.refs, ErpTarget(instance, erp), entity)
        if company is None:
            return skipped("company_unknown")
        theirs = await erp.customer_invoices(company=company, start=start, end=end)
    except ConnectorError as failed:
        return skipped(f"erp_failed: {type(failed).__name__}")
    recorded = {invoice.invoice_id for invoice in ours}
    unknown = sorted(
        {i.key for i in theirs if i.key and i.key not in recorded and _OURS.fullmatch(i.key)}
    )
    if unknown:  # ours, recorded for another window or entity, or never
        async with deps.transactions() as uow:
            ours = [*ours, *await uow.invoices.named(unknown)]
    found = compare_invoices(ours, theirs, legal_entity_id=entity, settled_before=settled_before)
    return Checked(entity, instance, company, len(recorded), len(theirs), None), found


async def reconcile(
    deps: Dependencies, *, months: int = RECENT_MONTHS, announce_as: str | None = None
) -> Report:
    """Reconcile the invoices dated in the last ``months`` months (this one included) and
    the charges on them; ``announce_as`` a service: announce each mismatch as it."""
    now = deps.clock()
    start, end = _window(now.date(), months), now.date()
    async with deps.transactions() as uow:
        ours = await uow.invoices.dated(start, end)
        orphans = await uow.charges.invoiced_unrecorded(_ORPHANS)
    found = [*unrecorded_invoices(orphans), *compare_charges(ours)]
    companies = []
    sent = sorted({(i.seller_entity, i.erp_instance) for i in ours if i.erp_instance})
    for entity, instance in sent:
        mine = [i for i in ours if (i.seller_entity, i.erp_instance) == (entity, instance)]
        checked, mismatches = await _company(deps, entity, instance, mine, start, end, now - QUIET)
        companies.append(checked)
        found += mismatches
    report = Report(str(uuid7()), start, end, tuple(companies), tuple(found))
    if announce_as is not None and found:
        await _announce(deps, report, announce_as, now)
    return report


async def _announce(deps: Dependencies, report: Report, service: str, now: datetime) -> None:
    """Each mismatch as ``ReconciliationMismatch``, in its entity's region (the project's
    when the project is the entity's); one about a project not known here is only logged."""
    version = version_at(now)
    async with deps.transactions() as uow:
        for index, mismatch in enumerate(report.mismatches):
            known = await uow.projects.get(mismatch.project_id) if mismatch.project_id else None
            entity = mismatch.legal_entity_id or (known.terms.legal_entity_id if known else None)
            if entity is None:
                logger.warning("mismatch %s not announced: no entity", mismatch.scope_key)
                continue
            own = known is not None and known.terms.legal_entity_id == entity
            region = known.region if known is not None and own else deps.settings.region_of(entity)
            event = ReconciliationMismatch(
                run_id=report.run_id, kind=mismatch.kind, source_system=SystemKind.ERP,
                target_system=SystemKind.ERP, scope_key=mismatch.scope_key,
                project_id=mismatch.project_id, period=mismatch.period,
                currency=mismatch.currency, source_value=mismatch.source_value,
                target_value=mismatch.target_value, item_ids=mismatch.item_ids,
                repairable=False, detected_at=now,
            )  # fmt: skip
            await uow.publish(
                Envelope.new(
                    event, producer=Producer(service=service), tenant_id=deps.settings.tenant_id,
                    legal_entity_id=entity, data_residency_region=region,
                    correlation_id=report.run_id, subject_version=version + index,
                )
            )  # fmt: skip
