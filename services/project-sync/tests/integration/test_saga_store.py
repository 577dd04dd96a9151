"""The saga table keeps every part of a saga: what a resumed saga decides from is what was
decided before the crash (``SqlSagas`` on real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from project_sync.adapters.repositories import SqlSagas
from project_sync.bootstrap import DEFINITION
from project_sync.domain import Problem, ProblemCode, ProjectSetup, Sow
from project_sync.domain.saga import (
    Activity,
    Cause,
    Compensation,
    Failure,
    FailureReason,
    Recommit,
    Saga,
    Step,
    Visit,
    work_of,
)
from project_sync.service_layer.unit_of_work import Placement
from tandem_contracts.entities import BillingModel, ContractStatus, TaxProfile
from tandem_service_kit import apply_migrations

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await apply_migrations(database_url, DEFINITION.migrations)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as opened:
        yield opened


def setup() -> ProjectSetup:
    return ProjectSetup(
        opportunity_id="opp-1", name="Globex roll-out", selling_legal_entity_id="le-de",
        customer_id="cust-1", currency="EUR", rate_card_id="rc-eur",
        tax_profile=TaxProfile(country="DE", vat_id="DE811907980"),
    )  # fmt: skip


def compensating() -> Saga:
    """A saga with every part set: SOW, refs, a counted compensation, a pending recommit."""
    history = tuple(
        Visit(step, T0 + timedelta(minutes=i))
        for i, step in enumerate(
            (Step.VALIDATE, Step.ERP_SHELL, Step.PSA_SHELL, Step.CRM_WRITEBACK,
             Step.SHELL_CREATED, Step.AWAITING_SOW, Step.ACTIVATING, Step.ACTIVE,
             Step.COMPENSATING)
        )
    )  # fmt: skip
    sow = Sow("sow-1", 3, ContractStatus.APPROVED, BillingModel.CAPPED_TM, True, "PO-1")
    return Saga(
        opportunity_id="opp-1", generation=2, step=Step.COMPENSATING, opportunity_version=9,
        history=history, updated_at=T0 + timedelta(hours=1), setup=setup(), sow=sow,
        last_error="erp: 503", attempts=2, erp_project_ref="job-1", project_code="P-0001",
        psa_project_ref="prj-1", erp_activated=True,
        compensation=Compensation(Cause.LOST, T0 + timedelta(minutes=50), Activity(3, 1)),
        recommit=Recommit(11, T0 + timedelta(minutes=55), setup()), alerted_visit=8,
    )  # fmt: skip


async def test_a_saga_loads_as_it_was_saved(pool: asyncpg.Pool) -> None:
    saga = compensating()
    async with pool.acquire() as db, db.transaction():
        await SqlSagas(db).save(saga, Placement("erp", "psa"))
    async with pool.acquire() as db, db.transaction():
        loaded = await SqlSagas(db).latest("opp-1")

    assert loaded == saga
    assert work_of(loaded) == work_of(saga)  # a resumed saga re-issues the same writes
    async with pool.acquire() as db:
        steps = await db.fetch("SELECT visit, left_at FROM project_sync.saga_steps ORDER BY visit")
    assert [row["left_at"] for row in steps] == [v.at for v in saga.history[1:]] + [None]


async def test_a_held_saga_is_found_by_what_holds_it(pool: asyncpg.Pool) -> None:
    problem = Problem(ProblemCode.VAT_INVALID, "tax_profile.vat_id", "bad", "customer:cust-1")
    failure = Failure(
        Step.VALIDATE, FailureReason.SETUP_INVALID, "bad", T0, (problem,), ("customer:cust-1",)
    )
    failed = replace(
        Saga("opp-1", 1, Step.VALIDATE, 1, (Visit(Step.VALIDATE, T0),), T0, setup=setup()),
        failure=failure,
    )
    waiting = Saga(
        "opp-2", 1, Step.ERP_SHELL, 1, (Visit(Step.ERP_SHELL, T0),), T0,
        setup=replace(setup(), opportunity_id="opp-2"), waiting_for="customer:cust-1",
    )  # fmt: skip
    never = Saga.not_started("opp-3", T0)
    async with pool.acquire() as db, db.transaction():
        sagas = SqlSagas(db)
        for saga in (failed, waiting, never):
            await sagas.save(saga, Placement(None, None))
        held_by = await sagas.held_by("customer:cust-1")
        held = await sagas.held(10)
        loaded = await sagas.latest("opp-1")
        in_flight = await sagas.in_flight(10)

    assert held_by == ["opp-1", "opp-2"]
    assert held == [("opp-1", "customer:cust-1", T0), ("opp-2", "customer:cust-1", None)]
    assert loaded == failed
    assert loaded is not None
    assert loaded.state == "failed"
    assert sorted(in_flight) == ["opp-1", "opp-2"]
