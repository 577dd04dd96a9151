"""The process API (``/v1``): quote-to-cash status, held sagas and operator actions, set-up
validation, billing-code checks, customers, and approved contracts."""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from project_sync.adapters.repositories import SqlReference
from project_sync.adapters.views import Views
from project_sync.domain import ActionRefusedError, ProjectSetup, validate_setup
from project_sync.domain.saga import CancelRequested, ResumeRequested, RetryRequested
from project_sync.entrypoints.deps import Deps
from project_sync.entrypoints.schemas import (
    ActionBody,
    BillingCodeRead,
    ContractApproved,
    ContractBody,
    CustomerRead,
    ProblemRead,
    QuoteToCashPage,
    QuoteToCashRead,
    SagaPage,
    SagaSummary,
    SetupBody,
    Validation,
)
from project_sync.service_layer.runner import SERVICE
from tandem_contracts import Envelope, Producer
from tandem_contracts.entities import Contract, ContractStatus
from tandem_contracts.events import SOWApproved
from tandem_service_kit import PoolDep, Principal, require_scopes

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["project-sync"])
Reader = Annotated[Principal, Depends(require_scopes("q2c:read"))]
Writer = Annotated[Principal, Depends(require_scopes("q2c:write"))]
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:]+$")]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=64)]


def _problem(description: str) -> dict[str, Any]:
    schema = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {"description": description, "content": {"application/problem+json": schema}}


@router.get("/quote-to-cash", responses={404: _problem("No quote-to-cash matches.")})
async def quote_to_cash(
    pool: PoolDep,
    caller: Reader,
    opportunity: IdQuery = None,
    customer: IdQuery = None,
    project: IdQuery = None,
) -> QuoteToCashPage:
    """An opportunity's, a customer's or a project's quote-to-cash: each step with when, what
    holds it, and which records it made in the ERP, the PSA and the CRM."""
    if opportunity is None and customer is None and project is None:
        # Nothing is listed without a filter; the OpenAPI cannot say that one of three optional
        # parameters is needed, so this is the "nothing matches" of a valid request.
        raise HTTPException(
            404, "no quote-to-cash matches: name an opportunity, a customer or a project"
        )
    async with pool.acquire() as db:
        rows = await Views(db).quote_to_cash(
            opportunity=opportunity, customer=customer, project=project
        )
    if not rows:
        raise HTTPException(404, "no quote-to-cash matches")
    return QuoteToCashPage(items=[QuoteToCashRead.model_validate(row) for row in rows])


@router.get("/sagas")
async def list_sagas(
    pool: PoolDep,
    deps: Deps,
    caller: Reader,
    state: Literal["stuck", "failed", "waiting"] | None = None,
    reason: Literal["setup_invalid", "sow_not_ready", "refused"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SagaPage:
    """Sagas stuck (past their step's time), failed (with their typed reason) or waiting (for
    a dependency); the longest held first."""
    async with pool.acquire() as db:
        rows = await Views(db).sagas(
            state=state, reason=reason, now=deps.clock(),
            limits=deps.settings.step_limits(), limit=limit,
        )  # fmt: skip
    return SagaPage(items=[SagaSummary.model_validate(row) for row in rows])


_ACTIONS: dict[str, type[RetryRequested | ResumeRequested | CancelRequested]] = {
    "retry": RetryRequested,
    "resume": ResumeRequested,
    "cancel": CancelRequested,
}


@router.post(
    "/sagas/{opportunity_id}/{action}",
    responses={409: _problem("The saga's state does not allow the action.")},
)
async def act_on_saga(
    opportunity_id: IdPath,
    action: Literal["retry", "resume", "cancel"],
    body: ActionBody,
    deps: Deps,
    caller: Writer,
) -> SagaSummary:
    """Retry a held step, resume a failed one, or cancel the saga (compensating what it made);
    audited in the saga's log with the caller and ``why``."""
    async with deps.transactions() as uow:
        if await uow.sagas.latest(opportunity_id) is None:
            raise HTTPException(404, f"opportunity {opportunity_id} has no saga")
        event = _ACTIONS[action](opportunity_id, deps.clock())
        try:
            saga = await deps.runner.apply(uow, event, actor=caller.subject, why=body.why)
        except ActionRefusedError as refused:
            raise HTTPException(409, str(refused)) from None
    failure = saga.failure
    return SagaSummary(
        opportunity_id=saga.opportunity_id, generation=saga.generation, step=saga.step.value,
        state=saga.state, since=saga.entered_at, stuck=False, waiting_for=saga.waiting_for,
        reason=failure.reason.value if failure else None,
        detail=failure.detail if failure else None, last_error=saga.last_error,
    )  # fmt: skip


@router.post("/projects/validate")
async def validate_project(
    body: SetupBody, pool: PoolDep, deps: Deps, caller: Reader
) -> Validation:
    """Check a proposed project set-up (entity, customer, tax, currency, rate card) against
    the read model, before anything is created: every problem at once."""
    setup = ProjectSetup(
        opportunity_id="proposed", name=body.name,
        selling_legal_entity_id=body.selling_legal_entity_id, customer_id=body.customer_id,
        currency=body.currency, rate_card_id=body.rate_card_id, tax_profile=body.tax_profile,
    )  # fmt: skip
    # Read-only and answered in real time: reads on a pooled connection, no transaction.
    currencies = {e: frozenset(c) for e, c in deps.settings.entity_currencies.items()}
    async with pool.acquire() as db:
        reference = await SqlReference(db, currencies).reference_data([body.customer_id])
    problems = validate_setup(setup, reference)
    return Validation(
        valid=not problems,
        problems=[
            ProblemRead(
                code=p.code.value, field=p.field, message=p.message, key=p.key, waits=p.waits
            )
            for p in problems
        ],
    )


@router.get("/billing-codes/{code}")
async def billing_code(
    code: Annotated[str, Path(min_length=1, max_length=60)],
    pool: PoolDep,
    caller: Reader,
    on: Annotated[date, Query(alias="date")],
    worker: IdQuery = None,
) -> BillingCodeRead:
    """Is this project code open for time on this date, for this worker? From the read model
    only, never a live ERP call."""
    async with pool.acquire() as db:
        found = await Views(db).billing_code(code, on, worker)
    if found is None:
        raise HTTPException(404, f"project code {code} is unknown to project-sync")
    return BillingCodeRead.model_validate(found)


@router.get("/customers/{customer_id}")
async def read_customer(customer_id: IdPath, pool: PoolDep, caller: Reader) -> CustomerRead:
    """A customer's link between its CRM account and its ERP customer, and its tax problems."""
    async with pool.acquire() as db:
        found = await Views(db).customer(customer_id)
    if found is None:
        raise HTTPException(404, f"customer {customer_id} is unknown to project-sync")
    return CustomerRead.model_validate(found)


@router.put("/opportunities/{opportunity_id}/contract", status_code=202)
async def approve_contract(
    opportunity_id: IdPath, body: ContractBody, deps: Deps, caller: Writer
) -> ContractApproved:
    """Record the opportunity's approved contract (statement of work): ``SOWApproved`` is
    published and applied to its saga (activation's gates). Audited with the caller and
    ``why``."""
    version = time.time_ns() // 1_000_000
    async with deps.transactions() as uow:
        opportunity = await uow.opportunities.get(opportunity_id)
        if opportunity is None:
            raise HTTPException(404, f"opportunity {opportunity_id} is unknown to project-sync")
        if body.cap is not None and body.cap.currency != body.total_value.currency:
            raise HTTPException(422, "the cap is in another currency than the value")
        if body.po_required and not (body.po_number or "").strip():
            raise HTTPException(422, "the contract needs a purchase order number")
        contract = Contract(
            id=body.contract_id or f"sow-{opportunity_id}"[:64],
            customer_id=opportunity.customer_id,
            selling_legal_entity_id=opportunity.legal_entity_id,
            opportunity_id=opportunity_id, po_number=body.po_number,
            billing_model=body.billing_model, total_value=body.total_value, cap=body.cap,
            start_date=body.start_date, end_date=body.end_date,
            rate_card_id=body.rate_card_id, payment_terms_days=body.payment_terms_days,
            status=ContractStatus.APPROVED,
        )  # fmt: skip
        entity = opportunity.legal_entity_id
        envelope = Envelope.new(
            SOWApproved(contract=contract, approved_at=deps.clock()),
            producer=Producer(service=SERVICE, system=SOWApproved.system_of_record),
            tenant_id=deps.settings.tenant_id, legal_entity_id=entity,
            data_residency_region=deps.settings.region_of(entity),
            correlation_id=opportunity_id, subject_version=version,
            idempotency_key=f"SOWApproved:{contract.id}:{version}",
        )  # fmt: skip
        await uow.approvals.record(contract, version, caller.subject, body.why)
        await uow.publish(envelope)
    return ContractApproved(
        contract_id=contract.id, version=version, opportunity_id=opportunity_id,
        event_id=str(envelope.event_id), contract=contract.model_dump(mode="json"),
    )  # fmt: skip
