"""``SqlReference``: the reference data a project set-up is validated against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from project_sync.adapters import codec
from project_sync.adapters.repositories._json import loaded
from project_sync.domain import CustomerFacts, ReferenceData
from project_sync.service_layer.unit_of_work import AbstractReference
from tandem_messaging import DbConnection

__all__ = ["SqlReference"]


class SqlReference(AbstractReference):
    """Legal entities (``TANDEM_ENTITY_CURRENCIES`` over the table), rate cards, customers."""

    def __init__(self, connection: DbConnection, entity_currencies: Mapping[str, frozenset[str]]):
        self.db = connection
        self.entity_currencies = entity_currencies

    async def reference_data(self, customer_ids: Sequence[str]) -> ReferenceData:
        entities = dict(self.entity_currencies)
        allowed: set[str] = set(entities)
        if not entities:
            for row in await self.db.fetch(
                "SELECT legal_entity_id, currencies, allowed FROM project_sync.legal_entities"
            ):
                entities[row["legal_entity_id"]] = frozenset(row["currencies"])
                if row["allowed"]:
                    allowed.add(row["legal_entity_id"])
        cards = {
            row["rate_card_id"]: row["currency"]
            for row in await self.db.fetch(
                "SELECT rate_card_id, currency FROM project_sync.rate_cards "
                "WHERE status = 'published'"
            )
        }
        customers = {
            row["customer_id"]: CustomerFacts(
                row["customer_id"],
                row["erp_customer_ref"] is not None,
                tuple(codec.problem_from(p) for p in loaded(row["tax_problems"])),
            )
            for row in await self.db.fetch(
                "SELECT customer_id, erp_customer_ref, tax_problems FROM project_sync.customers "
                "WHERE customer_id = ANY($1::text[])",
                list(customer_ids),
            )
        }
        return ReferenceData(entities, frozenset(allowed), cards, customers)

    async def keep_rate_card(
        self, rate_card_id: str, currency: str, status: str, version: int
    ) -> bool:
        kept = await self.db.fetchval(
            "INSERT INTO project_sync.rate_cards (rate_card_id, currency, status, version) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (rate_card_id) DO UPDATE SET "
            "currency = EXCLUDED.currency, status = EXCLUDED.status, version = EXCLUDED.version, "
            "updated_at = clock_timestamp() WHERE project_sync.rate_cards.version < "
            "EXCLUDED.version RETURNING true",
            rate_card_id,
            currency,
            status,
            version,
        )
        return bool(kept)
