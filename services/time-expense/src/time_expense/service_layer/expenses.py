"""Approved expenses to the ERP, once each, with the period policy applied to the expense date."""

from __future__ import annotations

from typing import Any

from tandem_connectors.ports import ExpensePosting
from tandem_contracts import Envelope
from tandem_contracts.events import ExpenseApproved, ExpensePosted, PostingFailureReason
from tandem_messaging import HandlerContext
from time_expense.adapters.ledger import JournalLine, Ledgers
from time_expense.adapters.reference import ReferenceData
from time_expense.domain import PostingRefused, place_in_period
from time_expense.domain.checks import check_project_open, check_worker_mapped
from time_expense.domain.errors import DependencyPending
from time_expense.service_layer.context import Services
from time_expense.service_layer.failures import as_runtime_error
from time_expense.service_layer.posting import event_version
from time_expense.service_layer.preparation import ensure_periods

__all__ = ["on_expense_approved"]


async def on_expense_approved(
    envelope: Envelope[ExpenseApproved], ctx: HandlerContext[Any], services: Services
) -> None:
    """Post an approved expense (a later version of an already posted one changes nothing)."""
    expense, db, version = envelope.payload.expense, ctx.connection, envelope.subject_version
    ledgers = Ledgers(db)
    last = await ledgers.expense_version(expense.id)
    if last is not None and last >= version:
        return
    target = services.erps.target(expense.project_legal_entity_id, envelope.data_residency_region)
    try:
        project = check_project_open(
            expense.project_id,
            await ReferenceData(db).project(expense.project_id),
            expenses=True,
        )
        mapped = await services.erps.employee(db, target.instance, expense.worker_id)
        employee = check_worker_mapped(expense.worker_id, mapped, target.instance)
        erp_project = await services.erps.work(db, target.instance, project.id, None)
        if erp_project is None:
            raise DependencyPending(
                f"project-in-erp:{target.instance}:{project.id}",
                PostingFailureReason.PROJECT_UNKNOWN,
                f"project {project.id} has no project in ERP instance {target.instance}",
            )
        periods = await ensure_periods(
            db, services, target, project.legal_entity_id, expense.expense_date
        )
        placement = place_in_period(expense.expense_date, periods, services.policies.late_time)
    except PostingRefused as refused:
        raise as_runtime_error(refused) from refused
    key = f"expense:{expense.id}:v{version}"
    [written] = await target.erp.post_expenses(
        [ExpensePosting(expense=expense, employee=employee, project=erp_project, key=key)]
    )
    await ledgers.journal(
        JournalLine(
            key=key,
            subject_type="expense",
            subject_id=expense.id,
            kind="post",
            erp_instance=target.instance,
            erp_id=written.external_id,
            project_id=expense.project_id,
            worker_id=expense.worker_id,
            legal_entity_id=expense.project_legal_entity_id,
            work_date=expense.expense_date,
            accounting_date=placement.accounting_date,
            late=placement.late,
            minutes=0,
            bill_amount=None,
            cost_amount=None,
            amount=expense.amount.amount,
            currency=expense.amount.currency,
        )
    )
    await services.erps.xref.link(db, "expense", expense.id, written.ref)
    await ledgers.save_expense(expense, version, "posted")
    await ledgers.resolve_exceptions("expense", [expense.id])
    posted = ExpensePosted(
        expense_id=expense.id,
        project_id=expense.project_id,
        erp_ref=written.ref,
        accounting_date=placement.accounting_date,
        amount=expense.amount,
        posted_at=services.clock(),
    )
    await ctx.publish(posted, subject_version=event_version(version, 3))
