from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tandem_contracts import Envelope, Producer, SystemKind
from tandem_contracts.events import OpportunityLost

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def lost(opportunity_id: str = "opp-0001") -> OpportunityLost:
    return OpportunityLost(
        opportunity_id=opportunity_id, stage="Closed Lost", reason="budget", lost_at=AT
    )


def envelope_of(payload: OpportunityLost, **overrides: object) -> Envelope[OpportunityLost]:
    fields: dict[str, object] = {
        "producer": Producer(service="project-sync", system=SystemKind.CRM, instance="sf-acme"),
        "tenant_id": "acme",
        "legal_entity_id": "le-de",
        "data_residency_region": "eu",
        "correlation_id": "corr-0001",
        "subject_version": 1,
        **overrides,
    }
    return Envelope.new(payload, **fields)  # type: ignore[arg-type]


@pytest.fixture
def lost_envelope() -> Envelope[OpportunityLost]:
    return envelope_of(lost())


@pytest.fixture(name="lost")
def lost_factory() -> Callable[..., OpportunityLost]:
    """Build an OpportunityLost payload (default subject ``opp-0001``)."""
    return lost


@pytest.fixture(name="envelope_of")
def envelope_factory() -> Callable[..., Envelope[OpportunityLost]]:
    """Wrap a payload in an envelope of tenant acme, entity le-de, region eu."""
    return envelope_of


@pytest.fixture(name="at")
def fixed_instant() -> datetime:
    return AT
