"""``staffing_sync.psa_rate_cards`` (each PSA rate card read, and what was published of it) and
``staffing_sync.crm_accounts`` (which customer each CRM account is): plain SQL on one
transaction."""

from __future__ import annotations

import json
from typing import Any

from staffing_sync.service_layer.unit_of_work import (
    AbstractCrmAccounts,
    AbstractPsaRateCards,
    CrmAccount,
    KnownPsaRateCard,
)
from tandem_contracts.entities import RateCard
from tandem_messaging import DbConnection

__all__ = ["SqlCrmAccounts", "SqlPsaRateCards"]

_GET = """
SELECT rate_card_id, instance, external_id, psa_version, version, announced
FROM staffing_sync.psa_rate_cards WHERE rate_card_id = $1 FOR UPDATE
"""
_SAVE = """
INSERT INTO staffing_sync.psa_rate_cards (rate_card_id, instance, external_id, psa_version,
    version, announced)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (rate_card_id) DO UPDATE SET psa_version = EXCLUDED.psa_version,
    version = EXCLUDED.version, announced = EXCLUDED.announced, updated_at = clock_timestamp()
"""
_KEEP_ACCOUNT = """
INSERT INTO staffing_sync.crm_accounts (external_id, instance, customer_id, legal_entity_id,
    version)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (external_id, instance) DO UPDATE SET customer_id = EXCLUDED.customer_id,
    legal_entity_id = EXCLUDED.legal_entity_id, version = EXCLUDED.version,
    updated_at = clock_timestamp()
WHERE staffing_sync.crm_accounts.version < EXCLUDED.version
RETURNING true
"""
_NAMED = """
SELECT instance, external_id, customer_id, legal_entity_id FROM staffing_sync.crm_accounts
WHERE external_id = $1 ORDER BY instance
"""


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class SqlPsaRateCards(AbstractPsaRateCards):
    """``staffing_sync.psa_rate_cards``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, rate_card_id: str) -> KnownPsaRateCard | None:
        row = await self.db.fetchrow(_GET, rate_card_id)
        if row is None:
            return None
        announced = row["announced"]
        return KnownPsaRateCard(
            row["rate_card_id"], row["instance"], row["external_id"], int(row["psa_version"]),
            int(row["version"]),
            RateCard.model_validate(_loaded(announced)) if announced is not None else None,
        )  # fmt: skip

    async def save(self, known: KnownPsaRateCard) -> None:
        announced = known.announced.model_dump_json() if known.announced else None
        await self.db.execute(
            _SAVE, known.rate_card_id, known.instance, known.external_id, known.psa_version,
            known.version, announced,
        )  # fmt: skip


class SqlCrmAccounts(AbstractCrmAccounts):
    """``staffing_sync.crm_accounts``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def keep(self, account: CrmAccount, version: int) -> bool:
        kept = await self.db.fetchval(
            _KEEP_ACCOUNT, account.external_id, account.instance, account.customer_id,
            account.legal_entity_id, version,
        )  # fmt: skip
        return bool(kept)

    async def named(self, external_id: str) -> list[CrmAccount]:
        rows = await self.db.fetch(_NAMED, external_id)
        return [
            CrmAccount(row["instance"], row["external_id"], row["customer_id"],
                       row["legal_entity_id"])
            for row in rows
        ]  # fmt: skip
