"""Customers: each CRM account becomes one ERP customer, found before it is ever created.

An account whose tax registration does not hold (``domain.tax``: an EU business without a valid
VAT id) is kept with its typed problems — a business exception shown by the API — and not sent
to the ERP; the account fixed in the CRM arrives again and is linked then. Otherwise the ERP
customer is looked up by its key (``upsert_customer`` wrote it under the canonical customer id),
then by the tax id; only when neither finds one is it created. The link is kept both ways (a
cross-reference here, the ERP customer's id on the CRM account), ``CustomerLinked`` announces
it, and the dependency ``customer:<id>`` is met: the sagas held by it resume. An account found
unfit releases the sagas waiting for it too, which then fail with its tax problems.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from project_sync.domain import check_tax_profile
from project_sync.domain.keys import customer_key
from project_sync.service_layer.runner import Clock, SagaRunner
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork, CustomerRecord
from project_sync.settings import Settings
from tandem_connectors.directory import ErpDirectory, company_key
from tandem_connectors.ports import AbstractCrm, ErpObject
from tandem_contracts import Envelope, ExternalRef, SystemKind
from tandem_contracts.events import AccountUpserted, CustomerLinked, CustomerMatch
from tandem_messaging import DependencyMissing, HandlerContext, Router

__all__ = ["handlers"]

handlers = Router()


@handlers.handles(AccountUpserted)
async def link_customer(
    envelope: Envelope[AccountUpserted],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    crms: dict[str, AbstractCrm],
    settings: Settings,
    clock: Clock,
    runner: SagaRunner,
) -> None:
    """Check the account's tax registration; find or create its ERP customer; link both ways."""
    customer = envelope.payload.customer
    crm_ref = next(ref for ref in customer.refs if ref.system is SystemKind.CRM)
    before = await uow.customers.get(customer.id)
    if before is not None and before.version > envelope.subject_version:
        return  # an older version of the account than the one applied
    key = customer_key(customer.id)
    problems = tuple(check_tax_profile(customer.tax_profile, key=key))
    record = CustomerRecord(
        customer, crm_ref.instance, crm_ref.external_id, envelope.subject_version, problems
    )
    if before is not None:
        record = replace(
            record, erp_instance=before.erp_instance, erp_customer_ref=before.erp_customer_ref,
            matched_by=before.matched_by, crm_linked=before.crm_linked,
        )  # fmt: skip
    if problems:
        await uow.customers.save(record)  # held: fixed in the CRM, it comes again
        # A saga that reached validation before its customer was known waits for it: now
        # that it is known and unfit, it is checked again and fails with the tax problems (a
        # business exception with its reason), rather than wait for a link that never comes.
        await runner.release(uow, key)
        return
    entity = customer.legal_entity_id
    target = erps.target(entity, settings.region_of(entity))
    if record.erp_customer_ref is None or record.erp_instance != target.instance:
        company = await erps.company(uow.refs, target, entity)
        if company is None:
            raise DependencyMissing(
                company_key(target.instance, entity),
                f"legal entity {entity} has no company in ERP {target.instance} yet",
            )
        matched, ref = CustomerMatch.KEY, await target.erp.find(ErpObject.CUSTOMER, customer.id)
        if ref is None:
            vat = customer.tax_profile.vat_id
            matched = CustomerMatch.TAX_ID
            ref = await target.erp.find_customer(key=None, tax_id=vat, company=company)
        if ref is None:
            matched = CustomerMatch.CREATED
            written = await target.erp.upsert_customer(customer, company=company, key=customer.id)
            ref = written.ref
        await uow.refs.link("customer", customer.id, ref)
        record = replace(
            record, erp_instance=target.instance, erp_customer_ref=ref.external_id,
            matched_by=matched.value,
        )  # fmt: skip
    if not record.crm_linked:
        crm = crms[record.crm_instance]
        await crm.link_customer(
            record.crm_account_id, erp_customer_id=record.erp_customer_ref or "",
            key=f"{customer.id}:erp-customer",
        )  # fmt: skip
        record = replace(record, crm_linked=True)
    await uow.customers.save(record)
    was_fit = before is not None and before.linked and not before.tax_problems
    if not was_fit:
        erp_ref = _erp_ref(customer.id, record)
        matched_by = CustomerMatch(record.matched_by or CustomerMatch.CREATED.value)
        linked = CustomerLinked(
            customer_id=customer.id, erp_ref=erp_ref, crm_ref=crm_ref,
            created=matched_by is CustomerMatch.CREATED, matched_by=matched_by,
            linked_at=clock(),
        )  # fmt: skip
        await ctx.publish(
            linked, subject_version=envelope.subject_version,
            idempotency_key=f"CustomerLinked:{customer.id}:{envelope.subject_version}",
        )  # fmt: skip
    ctx.satisfy(key)


def _erp_ref(customer_id: str, record: CustomerRecord) -> ExternalRef:
    return ExternalRef(
        system=SystemKind.ERP, instance=record.erp_instance or "erp",
        object_type=ErpObject.CUSTOMER.value, external_id=record.erp_customer_ref or customer_id,
    )  # fmt: skip
