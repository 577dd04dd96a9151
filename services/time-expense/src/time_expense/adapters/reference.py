"""What time-expense keeps of other contexts' data, in SQL: projects, workers (their
employments and last days), assignments, rates, FX, periods.

``SqlReferenceData`` lives for one transaction and remembers what it read: a lane's batch is
mostly one worker's entries on a few projects, so each project, assignment list, rate table and
month of periods is read once per batch. A write forgets everything remembered (writes are rare
and must be read back by the next message of the batch). What it remembers is parsed: a batch
of one worker's entries parses its periods, rates and assignments once, not once per entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel

from tandem_contracts.entities import (
    AccountingPeriod,
    Assignment,
    CostRate,
    FxRate,
    Project,
    RateCard,
    Worker,
)
from tandem_messaging import DbConnection
from time_expense.domain.checks import Employment
from time_expense.service_layer.unit_of_work import AbstractReferenceData

__all__ = ["SqlReferenceData"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_PROJECT = "SELECT data FROM time_expense.projects WHERE project_id = $1"
_SAVE_PROJECT = """
INSERT INTO time_expense.projects (project_id, legal_entity_id, data, region)
VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (project_id) DO UPDATE
    SET data = EXCLUDED.data, legal_entity_id = EXCLUDED.legal_entity_id,
        region = coalesce(EXCLUDED.region, time_expense.projects.region),
        updated_at = clock_timestamp()
"""
_PROJECT_REGION = "SELECT region FROM time_expense.projects WHERE project_id = $1"
_WORKER = "SELECT data FROM time_expense.workers WHERE worker_id = $1"
_ENTITY_REGION = """
SELECT region FROM time_expense.projects WHERE legal_entity_id = $1 AND region IS NOT NULL LIMIT 1
"""
_ENTITIES = "SELECT DISTINCT legal_entity_id FROM time_expense.projects ORDER BY 1"
_SAVE_WORKER = """
INSERT INTO time_expense.workers (worker_id, legal_entity_id, data) VALUES ($1, $2, $3::jsonb)
ON CONFLICT (worker_id) DO UPDATE
    SET legal_entity_id = EXCLUDED.legal_entity_id, data = EXCLUDED.data
"""
_EMPLOYMENTS = """
SELECT legal_entity_id, starts_on, erp_instance, employee_id FROM time_expense.employments
WHERE worker_id = $1 ORDER BY starts_on
"""
_SAVE_EMPLOYMENT = """
INSERT INTO time_expense.employments (worker_id, erp_instance, starts_on, legal_entity_id,
    employee_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (worker_id, erp_instance, starts_on) DO UPDATE
    SET legal_entity_id = EXCLUDED.legal_entity_id, employee_id = EXCLUDED.employee_id
"""
_EMPLOYED = """
SELECT worker_id FROM time_expense.employments WHERE erp_instance = $1 AND employee_id = $2
LIMIT 1
"""
_LAST_DAY = "SELECT last_day FROM time_expense.last_days WHERE worker_id = $1"
_SAVE_LAST_DAY = """
INSERT INTO time_expense.last_days (worker_id, last_day) VALUES ($1, $2)
ON CONFLICT (worker_id) DO UPDATE SET last_day = EXCLUDED.last_day
"""
_FORGET_LAST_DAY = "DELETE FROM time_expense.last_days WHERE worker_id = $1"
_ASSIGNMENTS = """
SELECT data FROM time_expense.assignments WHERE project_id = $1 AND worker_id = $2
"""
_SAVE_ASSIGNMENT = """
INSERT INTO time_expense.assignments (assignment_id, project_id, worker_id, data)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (assignment_id) DO UPDATE SET data = EXCLUDED.data, worker_id = EXCLUDED.worker_id
"""
_CANCEL_ASSIGNMENT = """
UPDATE time_expense.assignments
SET data = jsonb_set(data, '{status}', '"cancelled"') WHERE assignment_id = $1
"""
_CARD_VERSIONS = "SELECT rate_card_id, version FROM time_expense.rate_cards WHERE currency = $1"
_CARDS = """
SELECT rate_card_id, version, data FROM time_expense.rate_cards WHERE rate_card_id = ANY($1)
"""
# Parsed rate cards by (id, published version): a published version never changes, and
# parsing a card's versions and role rows for every entry was a fifth of the posting time.
_PARSED_CARDS: dict[tuple[str, int], RateCard] = {}
_SAVE_CARD = """
INSERT INTO time_expense.rate_cards (rate_card_id, currency, version, data)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (rate_card_id) DO UPDATE
    SET data = EXCLUDED.data, currency = EXCLUDED.currency, version = EXCLUDED.version
    WHERE time_expense.rate_cards.version <= EXCLUDED.version
"""
_COSTS = "SELECT data FROM time_expense.cost_rates WHERE worker_id = $1"
_SAVE_COST = """
INSERT INTO time_expense.cost_rates (worker_id, effective_from, data) VALUES ($1, $2, $3::jsonb)
ON CONFLICT (worker_id, effective_from) DO UPDATE SET data = EXCLUDED.data
"""
_FX = """
SELECT data FROM time_expense.fx_rates
WHERE ((base = $1 AND quote = $2) OR (base = $2 AND quote = $1)) AND effective_date <= $3
ORDER BY effective_date DESC LIMIT 8
"""
_SAVE_FX = """
INSERT INTO time_expense.fx_rates (rate_id, base, quote, effective_date, data)
VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (rate_id) DO NOTHING
"""
_PERIODS = """
SELECT data FROM time_expense.periods
WHERE legal_entity_id = $1 AND end_date >= $2 ORDER BY start_date
"""
_SAVE_PERIOD = """
INSERT INTO time_expense.periods (legal_entity_id, start_date, end_date, status, data)
VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (legal_entity_id, start_date) DO UPDATE
    SET end_date = EXCLUDED.end_date, status = EXCLUDED.status, data = EXCLUDED.data
"""


class SqlReferenceData(AbstractReferenceData):
    """The reference tables in the transaction of ``connection``."""

    def __init__(self, connection: DbConnection) -> None:
        self._db = connection
        self._read: dict[tuple[Any, ...], Any] = {}

    async def _once(self, key: tuple[Any, ...], read: Callable[[], Awaitable[T]]) -> T:
        if key not in self._read:
            self._read[key] = await read()
        result: T = self._read[key]
        return result

    async def _rows(
        self, model: type[M], key: tuple[Any, ...], statement: str, *args: Any
    ) -> list[M]:
        """The rows of ``statement`` parsed as ``model``, read and parsed once per transaction."""
        if key in self._read:  # the common case in a batch: no closure made
            found: list[M] = self._read[key]
            return found

        async def read() -> list[M]:
            return [
                model.model_validate_json(row["data"])
                for row in await self._db.fetch(statement, *args)
            ]

        return await self._once(key, read)

    async def _row(
        self, model: type[M], key: tuple[Any, ...], statement: str, *args: Any
    ) -> M | None:
        """The value of ``statement`` parsed as ``model``, read and parsed once per transaction."""
        if key in self._read:
            found: M | None = self._read[key]
            return found

        async def read() -> M | None:
            data = await self._db.fetchval(statement, *args)
            return model.model_validate_json(data) if data else None

        return await self._once(key, read)

    async def _write(self, statement: str, *args: Any) -> None:
        self._read.clear()
        await self._db.execute(statement, *args)

    async def project(self, project_id: str) -> Project | None:
        """The project as last activated or changed, if known."""

        return await self._row(Project, ("project", project_id), _PROJECT, project_id)

    async def save_project(self, project: Project, region: str | None = None) -> None:
        """Keep the project's latest state (and its entity's residency region, when told)."""
        await self._write(
            _SAVE_PROJECT, project.id, project.legal_entity_id, project.model_dump_json(), region
        )

    async def project_region(self, project_id: str) -> str | None:
        """The residency region of the project's legal entity, if known."""
        value = await self._once(
            ("region", project_id), lambda: self._db.fetchval(_PROJECT_REGION, project_id)
        )
        return str(value) if value else None

    async def entity_region(self, legal_entity_id: str) -> str | None:
        """The residency region of a legal entity, as its projects' activations said."""
        value = await self._db.fetchval(_ENTITY_REGION, legal_entity_id)
        return str(value) if value else None

    async def legal_entities(self) -> list[str]:
        """The legal entities time-expense has projects of."""
        return [str(row[0]) for row in await self._db.fetch(_ENTITIES)]

    async def worker(self, worker_id: str) -> Worker | None:
        """The worker as HR last announced it, if known."""
        return await self._row(Worker, ("worker", worker_id), _WORKER, worker_id)

    async def save_worker(self, worker: Worker) -> None:
        """Keep the worker's latest state."""
        await self._write(_SAVE_WORKER, worker.id, worker.legal_entity_id, worker.model_dump_json())

    async def employments(self, worker_id: str) -> list[Employment]:
        """The worker's employments, each with its ERP employee, oldest first."""

        async def read() -> list[Employment]:
            rows = await self._db.fetch(_EMPLOYMENTS, worker_id)
            return [
                Employment(r["legal_entity_id"], r["starts_on"], r["erp_instance"],
                           r["employee_id"])
                for r in rows
            ]  # fmt: skip

        return await self._once(("employments", worker_id), read)

    async def save_employment(self, worker_id: str, employment: Employment) -> None:
        """Keep an employment (the one begun that day in that instance is replaced)."""
        await self._write(
            _SAVE_EMPLOYMENT, worker_id, employment.instance, employment.starts_on,
            employment.legal_entity_id, employment.employee,
        )  # fmt: skip

    async def worker_of_employee(self, instance: str, employee: str) -> str | None:
        """The worker the ERP employee is an employment of, if kept."""
        value = await self._once(
            ("employed", instance, employee),
            lambda: self._db.fetchval(_EMPLOYED, instance, employee),
        )
        return str(value) if value else None

    async def last_day(self, worker_id: str) -> date | None:
        """The worker's last day as HR last said it, if any."""
        value = await self._once(
            ("last_day", worker_id), lambda: self._db.fetchval(_LAST_DAY, worker_id)
        )
        return value if isinstance(value, date) else None

    async def save_last_day(self, worker_id: str, last_day: date | None) -> None:
        """Keep the worker's last day (``None`` forgets it)."""
        if last_day is None:
            await self._write(_FORGET_LAST_DAY, worker_id)
        else:
            await self._write(_SAVE_LAST_DAY, worker_id, last_day)

    async def assignments(self, project_id: str, worker_id: str) -> list[Assignment]:
        """The worker's assignments on the project."""
        key = ("assignments", project_id, worker_id)
        return await self._rows(Assignment, key, _ASSIGNMENTS, project_id, worker_id)

    async def save_assignment(self, assignment: Assignment) -> None:
        """Keep an assignment's latest state."""
        await self._write(
            _SAVE_ASSIGNMENT,
            assignment.id,
            assignment.project_id,
            assignment.worker_id,
            assignment.model_dump_json(),
        )

    async def cancel_assignment(self, assignment_id: str) -> None:
        """Mark an assignment cancelled."""
        await self._write(_CANCEL_ASSIGNMENT, assignment_id)

    async def rate_cards(self, currency: str) -> list[RateCard]:
        """Every rate card in ``currency`` (each version parsed once per process)."""
        versions = await self._once(
            ("cards", currency), lambda: self._db.fetch(_CARD_VERSIONS, currency)
        )
        current = [(r["rate_card_id"], r["version"]) for r in versions]
        unknown = [card for card, version in current if (card, version) not in _PARSED_CARDS]
        if unknown:
            for row in await self._db.fetch(_CARDS, unknown):
                parsed = RateCard.model_validate_json(row["data"])
                _PARSED_CARDS[(row["rate_card_id"], row["version"])] = parsed
        return [_PARSED_CARDS[key] for key in current if key in _PARSED_CARDS]

    async def save_rate_card(self, card: RateCard, version: int) -> None:
        """Keep the card's published ``version`` unless a later one is kept already."""
        await self._write(_SAVE_CARD, card.id, card.currency, version, card.model_dump_json())

    async def cost_rates(self, worker_id: str) -> list[CostRate]:
        """The worker's dated cost rates."""
        return await self._rows(CostRate, ("costs", worker_id), _COSTS, worker_id)

    async def save_cost_rate(self, rate: CostRate) -> None:
        """Keep a dated cost rate of a worker."""
        if rate.worker_id is not None:
            await self._write(
                _SAVE_COST, rate.worker_id, rate.effective_from, rate.model_dump_json()
            )

    async def fx_rates(self, base: str, quote: str, on: date) -> list[FxRate]:
        """The latest rates between two currencies on or before ``on``, both directions."""
        return await self._rows(FxRate, ("fx", base, quote, on), _FX, base, quote, on)

    async def save_fx_rate(self, rate: FxRate) -> None:
        """Keep an FX rate (rates are immutable once published)."""
        await self._write(
            _SAVE_FX, rate.id, rate.base, rate.quote, rate.effective_date, rate.model_dump_json()
        )

    async def periods(self, legal_entity_id: str, ending_after: date) -> list[AccountingPeriod]:
        """The entity's periods ending on or after ``ending_after``, oldest first."""
        key = ("periods", legal_entity_id, ending_after)
        return await self._rows(AccountingPeriod, key, _PERIODS, legal_entity_id, ending_after)

    async def save_period(self, period: AccountingPeriod) -> None:
        """Keep a period's latest status."""
        await self._write(
            _SAVE_PERIOD,
            period.legal_entity_id,
            period.start_date,
            period.end_date,
            period.status.value,
            period.model_dump_json(),
        )
