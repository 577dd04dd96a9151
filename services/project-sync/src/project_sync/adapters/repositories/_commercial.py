"""``SqlCustomers`` and ``SqlOpportunities``: what project-sync keeps of the CRM's records."""

from __future__ import annotations

import json

from project_sync.adapters import codec
from project_sync.adapters.repositories._json import loaded
from project_sync.service_layer.unit_of_work import (
    AbstractCustomers,
    AbstractOpportunities,
    CustomerRecord,
    OpportunityRecord,
)
from tandem_contracts.entities import Customer, OpportunityStatus
from tandem_messaging import DbConnection

__all__ = ["SqlCustomers", "SqlOpportunities"]


_SAVE_CUSTOMER = """
INSERT INTO project_sync.customers (
    customer_id, crm_instance, crm_account_id, legal_entity_id, country, tax_id, tax_problems,
    erp_instance, erp_customer_ref, matched_by, linked_at, crm_linked_at, version, data,
    updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10,
        CASE WHEN $9::text IS NULL THEN NULL ELSE clock_timestamp() END,
        CASE WHEN $11 THEN clock_timestamp() END, $12, $13::jsonb, clock_timestamp())
ON CONFLICT (customer_id) DO UPDATE SET
    legal_entity_id = EXCLUDED.legal_entity_id, country = EXCLUDED.country,
    tax_id = EXCLUDED.tax_id, tax_problems = EXCLUDED.tax_problems,
    erp_instance = EXCLUDED.erp_instance, erp_customer_ref = EXCLUDED.erp_customer_ref,
    matched_by = EXCLUDED.matched_by,
    linked_at = CASE WHEN EXCLUDED.erp_customer_ref IS NULL THEN NULL
                     ELSE coalesce(project_sync.customers.linked_at, EXCLUDED.linked_at) END,
    crm_linked_at = CASE WHEN $11 THEN coalesce(project_sync.customers.crm_linked_at,
                                                 clock_timestamp()) END,
    version = EXCLUDED.version, data = EXCLUDED.data, updated_at = clock_timestamp()
"""


_CUSTOMER = "SELECT * FROM project_sync.customers WHERE customer_id = $1"
_CUSTOMER_LOCKED = _CUSTOMER + " FOR UPDATE"


class SqlCustomers(AbstractCustomers):
    """``project_sync.customers``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, customer_id: str, *, lock: bool = True) -> CustomerRecord | None:
        query = _CUSTOMER_LOCKED if lock else _CUSTOMER
        row = await self.db.fetchrow(query, customer_id)
        if row is None:
            return None
        return CustomerRecord(
            customer=Customer.model_validate(loaded(row["data"])),
            crm_instance=row["crm_instance"],
            crm_account_id=row["crm_account_id"],
            version=row["version"],
            tax_problems=tuple(codec.problem_from(p) for p in loaded(row["tax_problems"])),
            erp_instance=row["erp_instance"],
            erp_customer_ref=row["erp_customer_ref"],
            matched_by=row["matched_by"],
            crm_linked=row["crm_linked_at"] is not None,
            updated_at=row["updated_at"],
        )

    async def save(self, record: CustomerRecord) -> None:
        customer = record.customer
        await self.db.execute(
            _SAVE_CUSTOMER,
            customer.id,
            record.crm_instance,
            record.crm_account_id,
            customer.legal_entity_id,
            customer.country,
            customer.tax_profile.vat_id,
            json.dumps([codec.problem_json(p) for p in record.tax_problems]),
            record.erp_instance,
            record.erp_customer_ref,
            record.matched_by,
            record.crm_linked,
            record.version,
            customer.model_dump_json(),
        )


class SqlOpportunities(AbstractOpportunities):
    """``project_sync.opportunities``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, opportunity_id: str) -> OpportunityRecord | None:
        row = await self.db.fetchrow(
            "SELECT * FROM project_sync.opportunities WHERE opportunity_id = $1 FOR UPDATE",
            opportunity_id,
        )
        if row is None:
            return None
        return OpportunityRecord(
            row["opportunity_id"],
            row["crm_instance"],
            row["crm_id"],
            row["customer_id"],
            row["legal_entity_id"],
            row["stage"],
            OpportunityStatus(row["status"]),
            row["version"],
            loaded(row["data"]),
        )

    async def save(self, record: OpportunityRecord) -> None:
        await self.db.execute(
            "INSERT INTO project_sync.opportunities (opportunity_id, crm_instance, crm_id, "
            "customer_id, legal_entity_id, stage, status, version, data) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) "
            "ON CONFLICT (opportunity_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, "
            "legal_entity_id = EXCLUDED.legal_entity_id, stage = EXCLUDED.stage, "
            "status = EXCLUDED.status, version = EXCLUDED.version, data = EXCLUDED.data, "
            "updated_at = clock_timestamp()",
            record.opportunity_id,
            record.crm_instance,
            record.crm_id,
            record.customer_id,
            record.legal_entity_id,
            record.stage,
            record.status.value,
            record.version,
            json.dumps(record.data, default=str),
        )
