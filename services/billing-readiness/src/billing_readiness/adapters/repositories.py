"""billing-readiness's customers and projects behind the service layer's ports (plain SQL on
one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from billing_readiness.domain import (
    BillingTerms,
    CustomerStanding,
)
from billing_readiness.service_layer.unit_of_work import (
    AbstractCustomers,
    AbstractFxRates,
    AbstractProjects,
    AbstractRateCards,
    KnownProject,
)
from tandem_contracts import Money
from tandem_contracts.entities import (
    BillingModel,
    Contract,
    Customer,
    CustomerStatus,
    FxRate,
    Project,
    RateCard,
    TaxProfile,
)
from tandem_messaging import DbConnection

__all__ = ["SqlCustomers", "SqlFxRates", "SqlProjects", "SqlRateCards"]

_KEEP_CUSTOMER = """
INSERT INTO billing_readiness.customers (customer_id, version, country, currency, tax_profile,
    on_credit_hold, payment_terms_days)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
ON CONFLICT (customer_id) DO UPDATE SET version = EXCLUDED.version, country = EXCLUDED.country,
    currency = EXCLUDED.currency, tax_profile = EXCLUDED.tax_profile,
    on_credit_hold = EXCLUDED.on_credit_hold, payment_terms_days = EXCLUDED.payment_terms_days,
    updated_at = clock_timestamp()
WHERE billing_readiness.customers.version < EXCLUDED.version
RETURNING true
"""


class SqlCustomers(AbstractCustomers):
    """Customers; a standing read is remembered for the transaction (a lane's batch charges
    many entries of a few customers' projects)."""

    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection
        self._standing: dict[str, CustomerStanding | None] = {}

    async def keep(self, customer: Customer, version: int) -> bool:
        self._standing.pop(customer.id, None)
        kept = await self.connection.fetchval(
            _KEEP_CUSTOMER, customer.id, version, customer.country, customer.currency,
            customer.tax_profile.model_dump_json(),
            customer.status is CustomerStatus.ON_HOLD, customer.payment_terms_days,
        )  # fmt: skip
        return bool(kept)

    async def standing(self, customer_id: str) -> CustomerStanding | None:
        if customer_id in self._standing:
            return self._standing[customer_id]
        row = await self.connection.fetchrow(
            "SELECT country, tax_profile, on_credit_hold FROM billing_readiness.customers "
            "WHERE customer_id = $1",
            customer_id,
        )
        found = None
        if row is not None:
            found = CustomerStanding(
                customer_id=customer_id, country=row["country"],
                tax_profile=TaxProfile.model_validate_json(row["tax_profile"]),
                on_credit_hold=row["on_credit_hold"],
            )  # fmt: skip
        self._standing[customer_id] = found
        return found

    async def payment_terms(self, customer_id: str) -> int | None:
        days = await self.connection.fetchval(
            "SELECT payment_terms_days FROM billing_readiness.customers WHERE customer_id = $1",
            customer_id,
        )
        return int(days) if days is not None else None


_KEEP_PROJECT = """
INSERT INTO billing_readiness.projects (project_id, version, customer_id, legal_entity_id,
    region, currency, billing_model, contract_id, start_date, end_date, correlation_id,
    total_value, org_unit_ids)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (project_id) DO UPDATE SET version = EXCLUDED.version,
    customer_id = EXCLUDED.customer_id, legal_entity_id = EXCLUDED.legal_entity_id,
    region = EXCLUDED.region, currency = EXCLUDED.currency,
    billing_model = EXCLUDED.billing_model,
    contract_id = COALESCE(EXCLUDED.contract_id, billing_readiness.projects.contract_id),
    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
    org_unit_ids = EXCLUDED.org_unit_ids,
    correlation_id = COALESCE(billing_readiness.projects.correlation_id, EXCLUDED.correlation_id),
    updated_at = clock_timestamp()
WHERE billing_readiness.projects.version < EXCLUDED.version
RETURNING true
"""
_KEEP_CONTRACT = """
INSERT INTO billing_readiness.contracts (contract_id, version, contract, project_ids)
VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (contract_id) DO UPDATE SET version = EXCLUDED.version,
    contract = EXCLUDED.contract, project_ids = EXCLUDED.project_ids,
    updated_at = clock_timestamp()
WHERE billing_readiness.contracts.version < EXCLUDED.version
RETURNING true
"""
_GET_PROJECT = """
SELECT p.*, c.contract FROM billing_readiness.projects p
LEFT JOIN LATERAL (
    SELECT contract FROM billing_readiness.contracts k
    WHERE k.contract_id = p.contract_id OR p.project_id = ANY (k.project_ids)
    ORDER BY (k.contract_id = p.contract_id) DESC, k.updated_at DESC LIMIT 1
) c ON true
WHERE p.project_id = $1
"""


class SqlProjects(AbstractProjects):
    """Projects and their contracts; a project's terms are remembered for the transaction
    (forgotten on any write), and the standing lock is taken once per customer and mode."""

    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection
        self._known: dict[str, KnownProject | None] = {}
        self._locked: dict[str, bool] = {}

    async def keep(self, project: Project, region: str, version: int, correlation_id: str) -> bool:
        self._known.clear()
        value = project.budget.amount.amount if project.budget.amount else None
        kept = await self.connection.fetchval(
            _KEEP_PROJECT, project.id, version, project.customer_id, project.legal_entity_id,
            region, project.currency, project.billing_model.value, project.contract_id,
            project.start_date, project.end_date, correlation_id, value,
            list(project.org_unit_ids),
        )  # fmt: skip
        return bool(kept)

    async def keep_contract(
        self, contract: Contract, project_ids: Sequence[str], version: int
    ) -> bool:
        self._known.clear()
        kept = await self.connection.fetchval(
            _KEEP_CONTRACT, contract.id, version, contract.model_dump_json(), list(project_ids)
        )
        return bool(kept)

    async def change_order(self, project_id: str, cap: Any, total_value: Any) -> None:
        self._known.clear()
        await self.connection.execute(
            "UPDATE billing_readiness.projects SET cap = COALESCE($2, cap), "
            "total_value = COALESCE($3, total_value), updated_at = clock_timestamp() "
            "WHERE project_id = $1",
            project_id,
            cap.amount if cap is not None else None,
            total_value.amount if total_value is not None else None,
        )

    async def get(self, project_id: str) -> KnownProject | None:
        if project_id not in self._known:
            row = await self.connection.fetchrow(_GET_PROJECT, project_id)
            self._known[project_id] = _known(row) if row is not None else None
        return self._known[project_id]

    async def of_customer(self, customer_id: str) -> list[str]:
        rows = await self.connection.fetch(
            "SELECT project_id FROM billing_readiness.projects WHERE customer_id = $1 "
            "ORDER BY project_id",
            customer_id,
        )
        return [row["project_id"] for row in rows]

    async def set_disputed(self, project_id: str, disputed: bool) -> None:
        self._known.clear()
        await self.connection.execute(
            "UPDATE billing_readiness.projects SET disputed = $2, updated_at = clock_timestamp() "
            "WHERE project_id = $1",
            project_id,
            disputed,
        )

    async def of_contract(self, contract_id: str) -> list[str]:
        rows = await self.connection.fetch(
            "SELECT project_id FROM billing_readiness.projects WHERE contract_id = $1 "
            "ORDER BY project_id",
            contract_id,
        )
        return [row["project_id"] for row in rows]

    async def lock_terms(self, keys: Sequence[str]) -> None:
        for key in sorted(set(keys)):  # one order everywhere: no two transactions deadlock
            await self.connection.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                f"billing-readiness:terms:{key}",
            )

    async def lock_standing(self, customer_id: str, *, exclusive: bool) -> None:
        held = self._locked.get(customer_id)
        if held is not None and (held or not exclusive):
            return  # held for the transaction already, as strongly
        self._locked[customer_id] = exclusive
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await self.connection.execute(
            f"SELECT {lock}(hashtextextended($1, 0))",
            f"billing-readiness:standing:{customer_id}",
        )


def _known(row: asyncpg.Record) -> KnownProject:
    """A project row with its contract: the contract's model, value, cap and PO; a change
    order's cap and value over the contract's."""
    currency = row["currency"]
    contract = Contract.model_validate_json(row["contract"]) if row["contract"] else None

    def money(amount: Decimal | None, fallback: Money | None) -> Money | None:
        if amount is not None:
            return Money(amount=amount, currency=currency)
        return fallback

    model = contract.billing_model if contract else BillingModel(row["billing_model"])
    terms = BillingTerms(
        project_id=row["project_id"], customer_id=row["customer_id"],
        legal_entity_id=row["legal_entity_id"], currency=currency, model=model,
        contract_id=contract.id if contract else row["contract_id"],
        cap=money(row["cap"], contract.cap if contract else None),
        total_value=money(
            row["total_value"] if contract is None or row["cap"] is not None else None,
            contract.total_value if contract else None,
        ),
        start=(contract.start_date if contract else None) or row["start_date"],
        end=(contract.end_date if contract else None) or row["end_date"],
        po_number=contract.po_number if contract else None,
    )  # fmt: skip
    terms_days = contract.payment_terms_days if contract else None
    return KnownProject(
        terms, row["region"], row["version"], row["disputed"], terms_days, row["correlation_id"],
        frozenset(row["org_unit_ids"]), contract is not None or row["contract_id"] is None,
    )  # fmt: skip


_KEEP_CARD = """
INSERT INTO billing_readiness.rate_cards (rate_card_id, version, currency, card)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (rate_card_id) DO UPDATE SET version = EXCLUDED.version,
    currency = EXCLUDED.currency, card = EXCLUDED.card, updated_at = clock_timestamp()
WHERE billing_readiness.rate_cards.version < EXCLUDED.version
RETURNING true
"""


class SqlRateCards(AbstractRateCards):
    """Published rate cards; a currency's cards are read once per transaction."""

    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection
        self._of: dict[str, list[RateCard]] = {}

    async def keep(self, card: RateCard, version: int) -> bool:
        self._of.pop(card.currency, None)
        kept = await self.connection.fetchval(
            _KEEP_CARD, card.id, version, card.currency, card.model_dump_json()
        )
        return bool(kept)

    async def of_currency(self, currency: str) -> list[RateCard]:
        if currency not in self._of:
            rows = await self.connection.fetch(
                "SELECT card FROM billing_readiness.rate_cards WHERE currency = $1 "
                "ORDER BY rate_card_id",
                currency,
            )
            self._of[currency] = [RateCard.model_validate_json(row["card"]) for row in rows]
        return self._of[currency]


class SqlFxRates(AbstractFxRates):
    """Published FX rates, immutable once kept."""

    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def keep(self, rate: FxRate) -> bool:
        kept = await self.connection.fetchval(
            "INSERT INTO billing_readiness.fx_rates (rate_id, base, quote, effective_date, rate) "
            "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (rate_id) DO NOTHING RETURNING true",
            rate.id, rate.base, rate.quote, rate.effective_date, rate.model_dump_json(),
        )  # fmt: skip
        return bool(kept)

    async def on(self, base: str, quote: str, day: date) -> FxRate | None:
        row = await self.connection.fetchrow(
            "SELECT rate FROM billing_readiness.fx_rates "
            "WHERE ((base = $1 AND quote = $2) OR (base = $2 AND quote = $1)) "
            "AND effective_date <= $3 ORDER BY effective_date DESC, (base = $1) DESC LIMIT 1",
            base,
            quote,
            day,
        )
        return FxRate.model_validate_json(row["rate"]) if row is not None else None
