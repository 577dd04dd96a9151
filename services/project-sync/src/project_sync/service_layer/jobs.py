"""project-sync's scheduled jobs: the watchdog over stuck sagas, and the sweep that resumes
held sagas whose dependency is met by now (a release that raced the saga's own decision)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from project_sync.domain.keys import customer_key, legal_entity_key, rate_card_key, rate_cards_key
from project_sync.domain.saga import DependencySatisfied, Step
from project_sync.service_layer.runner import SagaRunner
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_connectors.directory import COMPANY_KEY_PREFIX, ErpTarget
from tandem_messaging import Transactions

__all__ = ["resume_held", "watch_stuck"]

_SCAN = 500


async def watch_stuck(
    transactions: Transactions[AbstractUnitOfWork],
    runner: SagaRunner,
    limits: Mapping[Step, timedelta],
) -> int:
    """Raise ``QuoteToCashStuck`` for each saga past its step's limit, once per step visit;
    answer how many were raised."""
    async with transactions() as uow:
        in_flight = await uow.sagas.in_flight(_SCAN)
    alerted = 0
    for opportunity_id in in_flight:
        async with transactions() as uow:
            alerted += await runner.watch(uow, opportunity_id, limits)
    return alerted


async def resume_held(transactions: Transactions[AbstractUnitOfWork], runner: SagaRunner) -> int:
    """Resume the held sagas whose dependency is met by now; answer how many were resumed.

    A waiting saga resumes once its key is met (the customer linked and fit, the company found
    in the ERP, the rate card known), or once its customer is known to be unfit (checked
    again, it fails with the customer's tax problems). A failed one resumes here only on its
    customer, and only when the customer changed after the failure: other fixes come with
    their own releases or an operator's resume, and a saga whose problems remain is not
    checked again and again.
    """
    async with transactions() as uow:
        held = await uow.sagas.held(_SCAN)
    resumed = 0
    for opportunity_id, key, failed_at in held:
        async with transactions() as uow:
            if await _met(uow, runner, key, failed_at):
                await runner.apply(uow, DependencySatisfied(opportunity_id, runner.clock(), key))
                resumed += 1
    return resumed


async def _met(
    uow: AbstractUnitOfWork, runner: SagaRunner, key: str, failed_at: datetime | None
) -> bool:
    """Whether what ``key`` stands for is there now (for a failure: changed since)."""
    _, _, rest = key.partition(":")
    if key == customer_key(rest):
        customer = await uow.customers.get(rest, lock=False)
        fit = customer is not None and customer.linked and not customer.tax_problems
        if failed_at is None:
            # Waiting: linked and fit, or known to be unfit (checked again, it fails with the
            # customer's tax problems instead of waiting for a link that never comes).
            return fit or (customer is not None and bool(customer.tax_problems))
        if customer is None or customer.updated_at is None:
            return False
        return fit and customer.updated_at > failed_at
    if failed_at is not None:
        return False
    if key.startswith(COMPANY_KEY_PREFIX):
        instance, _, entity = key.removeprefix(COMPANY_KEY_PREFIX).partition(":")
        erp = runner.erps.adapters.get(instance)
        if erp is None:
            return False
        return await runner.erps.company(uow.refs, ErpTarget(instance, erp), entity) is not None
    reference = await uow.reference.reference_data(())
    if key == rate_card_key(rest):
        return rest in reference.rate_cards
    if key == rate_cards_key(rest):
        return rest in reference.rate_cards.values()
    if key == legal_entity_key(rest):
        return rest in reference.entity_currencies
    return False
