"""The tables bookings are confirmed from and recorded in: active projects, published rate
cards and each PSA booking handled (plain SQL on one transaction)."""

from __future__ import annotations

import json
from typing import Any

from staffing_sync.service_layer.unit_of_work import (
    AbstractBookings,
    AbstractProjects,
    AbstractRateCards,
    KnownBooking,
    KnownProject,
)
from tandem_contracts.entities import Assignment, Project, RateCard
from tandem_messaging import DbConnection

__all__ = ["SqlBookings", "SqlProjects", "SqlRateCards"]

_PROJECT = "SELECT project, region, version FROM staffing_sync.projects WHERE project_id = $1"
_KEEP_PROJECT = """
INSERT INTO staffing_sync.projects (project_id, legal_entity_id, currency, region, version,
    project)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (project_id) DO UPDATE SET legal_entity_id = EXCLUDED.legal_entity_id,
    currency = EXCLUDED.currency, region = EXCLUDED.region, version = EXCLUDED.version,
    project = EXCLUDED.project, updated_at = clock_timestamp()
WHERE staffing_sync.projects.version < EXCLUDED.version
RETURNING true
"""
_KEEP_CARD = """
INSERT INTO staffing_sync.rate_cards (rate_card_id, currency, published_version, card)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (rate_card_id) DO UPDATE SET currency = EXCLUDED.currency,
    published_version = EXCLUDED.published_version, card = EXCLUDED.card,
    updated_at = clock_timestamp()
WHERE staffing_sync.rate_cards.published_version < EXCLUDED.published_version
RETURNING true
"""
_CARDS = """
SELECT card FROM staffing_sync.rate_cards WHERE currency = $1 ORDER BY rate_card_id
"""
_BOOKING = """
SELECT assignment_id, instance, external_id, worker_id, project_id, psa_version, version,
    announced, cancelled, warnings
FROM staffing_sync.bookings WHERE assignment_id = $1 FOR UPDATE
"""
_SAVE_BOOKING = """
INSERT INTO staffing_sync.bookings (assignment_id, instance, external_id, worker_id,
    project_id, psa_version, version, announced, cancelled, warnings, status, start_date,
    end_date, booking_type, minutes_per_day, total_minutes, billable)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (assignment_id) DO UPDATE SET worker_id = EXCLUDED.worker_id,
    project_id = EXCLUDED.project_id, psa_version = EXCLUDED.psa_version,
    version = EXCLUDED.version, announced = EXCLUDED.announced,
    cancelled = EXCLUDED.cancelled, warnings = EXCLUDED.warnings, status = EXCLUDED.status,
    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
    booking_type = EXCLUDED.booking_type, minutes_per_day = EXCLUDED.minutes_per_day,
    total_minutes = EXCLUDED.total_minutes, billable = EXCLUDED.billable,
    updated_at = clock_timestamp()
"""


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class SqlProjects(AbstractProjects):
    """``staffing_sync.projects``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, project_id: str) -> KnownProject | None:
        row = await self.db.fetchrow(_PROJECT, project_id)
        if row is None:
            return None
        project = Project.model_validate(_loaded(row["project"]))
        return KnownProject(project, row["region"], int(row["version"]))

    async def keep(self, project: KnownProject) -> bool:
        p = project.project
        kept = await self.db.fetchval(
            _KEEP_PROJECT, p.id, p.legal_entity_id, p.currency, project.region,
            project.version, p.model_dump_json(),
        )  # fmt: skip
        return bool(kept)


class SqlRateCards(AbstractRateCards):
    """``staffing_sync.rate_cards``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def keep(self, card: RateCard, published_version: int) -> bool:
        kept = await self.db.fetchval(
            _KEEP_CARD, card.id, card.currency, published_version, card.model_dump_json()
        )
        return bool(kept)

    async def in_currency(self, currency: str) -> list[RateCard]:
        rows = await self.db.fetch(_CARDS, currency)
        return [RateCard.model_validate(_loaded(row["card"])) for row in rows]


class SqlBookings(AbstractBookings):
    """``staffing_sync.bookings``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, assignment_id: str) -> KnownBooking | None:
        row = await self.db.fetchrow(_BOOKING, assignment_id)
        if row is None:
            return None
        announced = row["announced"]
        return KnownBooking(
            row["assignment_id"], row["instance"], row["external_id"], row["worker_id"],
            row["project_id"], int(row["psa_version"]), int(row["version"]),
            Assignment.model_validate(_loaded(announced)) if announced is not None else None,
            row["cancelled"], tuple(row["warnings"]),
        )  # fmt: skip

    async def save(self, booking: KnownBooking) -> None:
        a = booking.announced
        shape = (
            (a.status.value, a.start_date, a.end_date, a.booking_type.value, a.minutes_per_day,
             a.total_minutes, a.billable)
            if a else (None,) * 7
        )  # fmt: skip
        await self.db.execute(
            _SAVE_BOOKING, booking.assignment_id, booking.instance, booking.external_id,
            booking.worker_id, booking.project_id, booking.psa_version, booking.version,
            a.model_dump_json() if a else None, booking.cancelled, list(booking.warnings),
            *shape,
        )  # fmt: skip
