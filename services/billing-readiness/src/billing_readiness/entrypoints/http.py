"""The process API (``/v1``): charges and their holds, unbilled WIP, invoice proposals and
what the ERP made of them, leakage, reconciliation with the ERP; and the decisions on money
only a person takes — release a hold, approve or write off a cap overage, put a project in
dispute — each scoped and audited with the caller and the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from billing_readiness.adapters.views import Views
from billing_readiness.entrypoints.deps import Deps
from billing_readiness.entrypoints.schemas import (
    ChargePage,
    ChargeRead,
    DisputeBody,
    FxRatesLoad,
    FxRatesLoaded,
    InvoicePage,
    InvoiceRead,
    IsoDate,
    LeakRead,
    MismatchRead,
    OverageBody,
    ProjectBillingRead,
    ReadinessRead,
    ReconciledCompany,
    ReconciliationRead,
    ReleaseBody,
    ReleaseRead,
    WipBucket,
    WipRead,
)
from billing_readiness.service_layer import decisions
from billing_readiness.service_layer.handlers import SERVICE
from billing_readiness.service_layer.leakage import leaks_now
from billing_readiness.service_layer.readiness import propose_ready
from billing_readiness.service_layer.reconcile import RECENT_MONTHS, reconcile
from billing_readiness.service_layer.standing import standing_of
from billing_readiness.service_layer.unit_of_work import ChargeRecord
from tandem_contracts import Money
from tandem_service_kit import PoolDep, Principal, require_scopes

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["billing-readiness"])
Reader = Annotated[Principal, Depends(require_scopes("billing:read"))]
Releaser = Annotated[Principal, Depends(require_scopes("billing:release"))]
Operator = Annotated[Principal, Depends(require_scopes("billing:operate"))]
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:.]+$")]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:.]+$")]


def _charge(record: ChargeRecord) -> ChargeRead:
    line = record.line
    return ChargeRead(
        charge_id=line.id, project_id=line.project_id, source=line.source.value,
        source_id=line.source_id, quantity=line.quantity, rate=line.rate, amount=line.amount,
        bill_date=line.bill_date, period=line.period, billable=line.billable,
        holds=sorted(line.holds), intercompany=line.intercompany,
        seller_entity=line.seller_entity, buyer_entity=line.buyer_entity,
        reverses=line.reverses, note=line.note, status=record.status,
        invoice_id=record.invoice_id,
    )  # fmt: skip


@router.get("/charges")
async def charges(
    pool: PoolDep,
    caller: Reader,
    project_id: IdQuery = None,
    status: Annotated[str | None, Query(pattern="^(open|invoiced)$")] = None,
    held: bool = False,
    after: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ChargePage:
    """Charges with their holds and reasons (``held=true``: only those held), by id."""
    async with pool.acquire() as db:
        records = await Views(db).charges(project_id, status, held, after, limit)
    items = [_charge(r) for r in records]
    return ChargePage(items=items, next_after=items[-1].charge_id if len(items) == limit else None)


@router.get("/projects/{project_id}/billing", responses={404: {"description": "Not active."}})
async def project_billing(
    project_id: IdPath, deps: Deps, pool: PoolDep, caller: Reader
) -> ProjectBillingRead:
    """A project's terms, standing holds, what it was charged, invoiced and holds, and its
    invoices."""
    async with deps.transactions() as uow:
        known = await uow.projects.get(project_id)
        if known is None:
            raise HTTPException(404, f"project {project_id} is not active in billing-readiness")
        standing = await standing_of(uow, project_id, deps)
        pending, refused = await uow.pending.counts(project_id, date.max)
    async with pool.acquire() as db:
        sums = await Views(db).sums(project_id)
        invoices = await Views(db).invoices(project_id)
    terms = known.terms
    currency = terms.currency

    def money(key: str) -> Money:
        return Money(amount=sums.get(key, Decimal(0)), currency=currency)

    return ProjectBillingRead(
        project_id=project_id, customer_id=terms.customer_id,
        legal_entity_id=terms.legal_entity_id, currency=currency,
        billing_model=terms.model.value, contract_id=terms.contract_id, cap=terms.cap,
        total_value=terms.total_value, po_number=terms.po_number, disputed=known.disputed,
        standing_holds=sorted(standing), charged=money("charged"), invoiced=money("invoiced"),
        held=money("held"), pending_time=pending, refused_time=refused,
        invoices=[InvoiceRead.model_validate(i) for i in invoices],
    )  # fmt: skip


@router.get("/invoices")
async def invoices(
    pool: PoolDep,
    caller: Reader,
    project_id: IdQuery = None,
    after: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> InvoicePage:
    """Invoice proposals and credit notes, with the ERP's number and totals once posted, by
    id, a page at a time (``next_after`` names the next page's ``after``)."""
    async with pool.acquire() as db:
        rows = await Views(db).invoices(project_id, after, limit)
    items = [InvoiceRead.model_validate(row) for row in rows]
    return InvoicePage(
        items=items, next_after=items[-1].invoice_id if len(items) == limit else None
    )


@router.get("/wip")
async def unbilled_wip(
    pool: PoolDep, caller: Reader, as_of: IsoDate | None = None, project_id: IdQuery = None
) -> list[WipRead]:
    """Unbilled WIP: billable charges not invoiced, per project and currency, by age."""
    on = as_of or datetime.now(UTC).date()
    async with pool.acquire() as db:
        rows = await Views(db).wip(on, project_id)
    grouped: dict[tuple[str, str], WipRead] = {}
    for row in rows:
        key = (row["project_id"], row["currency"])
        wip = grouped.setdefault(
            key,
            WipRead(
                project_id=key[0], currency=key[1], total=Decimal(0), held=Decimal(0), buckets=[]
            ),
        )
        wip.total += row["total"]
        wip.held += row["held"]
        wip.buckets.append(
            WipBucket(bucket=row["bucket"], amount=row["total"], charges=row["charges"])
        )
    return list(grouped.values())


@router.post("/charges/{charge_id}/release", responses={404: {"description": "No such charge."}})
async def release_charge(
    charge_id: IdPath, body: ReleaseBody, deps: Deps, caller: Releaser
) -> ReleaseRead:
    """Lift the holds only a person lifts from an open charge (cap reached, intercompany pair
    not allowed, dispute) or write it off; audited. Standing holds (credit hold, missing PO,
    refused time, tax profile) lift only when their cause is gone: 409."""
    async with deps.transactions() as uow:
        outcome = await decisions.release_charge(
            uow, deps, charge_id, body.decision, caller.subject, body.reason, service=SERVICE
        )
    if outcome is None:
        raise HTTPException(404, f"no charge {charge_id}")
    if isinstance(outcome, str):
        raise HTTPException(409, outcome)
    return ReleaseRead.model_validate(outcome._asdict())


@router.post("/projects/{project_id}/overage", responses={404: {"description": "Not active."}})
async def decide_overage(
    project_id: IdPath, body: OverageBody, deps: Deps, caller: Releaser
) -> list[ReleaseRead]:
    """Approve (bill) or write off every charge of the project held because its cap was
    reached; audited."""
    async with deps.transactions() as uow:
        done = await decisions.decide_overage(
            uow, deps, project_id, body.decision, caller.subject, body.reason, service=SERVICE
        )
    if done is None:
        raise HTTPException(404, f"project {project_id} is not active in billing-readiness")
    return [ReleaseRead.model_validate(d._asdict()) for d in done]


@router.put("/projects/{project_id}/dispute", responses={404: {"description": "Not active."}})
async def dispute(
    project_id: IdPath, body: DisputeBody, deps: Deps, caller: Releaser
) -> dict[str, Any]:
    """Put the project's billing in dispute (every open charge held ``disputed``) or lift
    it; audited."""
    async with deps.transactions() as uow:
        found = await decisions.dispute(
            uow, deps, project_id, body.disputed, caller.subject, body.reason, service=SERVICE
        )
    if not found:
        raise HTTPException(404, f"project {project_id} is not active in billing-readiness")
    return {"project_id": project_id, "disputed": body.disputed}


@router.put("/fx-rates")
async def load_fx_rates(body: FxRatesLoad, deps: Deps, caller: Operator) -> FxRatesLoaded:
    """Load published FX rates: an invoice in a currency other than its seller's functional
    currency (``TANDEM_ENTITY_CURRENCIES``) carries the rate at its invoice date."""
    kept = 0
    async with deps.transactions() as uow:
        for rate in body.rates:
            kept += await uow.fx_rates.keep(rate)
    return FxRatesLoaded(loaded=len(body.rates), kept=kept)


@router.post("/readiness")
async def run_readiness(deps: Deps, caller: Operator) -> ReadinessRead:
    """Run the invoice-readiness pass now (as the scheduled job does)."""
    outcome = await propose_ready(deps, service=SERVICE)
    proposed = sum(1 for ids in outcome.values() for i in ids if i.startswith("inv-"))
    return ReadinessRead(projects={k: list(v) for k, v in outcome.items()}, proposed=proposed)


@router.get("/leakage")
async def leakage(deps: Deps, caller: Reader, project_id: IdQuery = None) -> list[LeakRead]:
    """Revenue leakage now: billable value not invoiced after the configured days, work
    beyond caps (held or written off), and approved billable time not charged (not posted,
    or refused) that long after its approval. Time billed below the rate card is not
    reported: no rate card is kept here."""
    leaks = await leaks_now(deps, project_id)
    return [
        LeakRead(
            project_id=leak.project_id,
            kind=leak.kind.value,
            amount=leak.amount,
            items=len(leak.item_ids),
            oldest=leak.oldest,
        )
        for leak in leaks
    ]


@router.get("/reconciliation")
async def reconciliation(
    deps: Deps,
    caller: Reader,
    months: Annotated[int, Query(ge=1, le=12)] = RECENT_MONTHS,
) -> ReconciliationRead:
    """Reconcile now (as the scheduled job does, without announcing): the invoices and credit
    notes dated in the last ``months`` months, this one included, against each ERP
    company's, and the charges on them against their subtotals. A company that cannot be
    compared now is listed with why (``skipped``)."""
    report = await reconcile(deps, months=months)
    return ReconciliationRead(
        run_id=report.run_id, start=report.start, end=report.end,
        companies=[ReconciledCompany.model_validate(c._asdict()) for c in report.companies],
        mismatches=[
            MismatchRead.model_validate(m._asdict() | {"kind": m.kind.value})
            for m in report.mismatches
        ],
    )  # fmt: skip
