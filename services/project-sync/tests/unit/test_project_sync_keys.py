"""Keys: the project id, write keys per step and system, and dependency keys."""

import re

import pytest

from project_sync.domain.keys import (
    Write,
    customer_key,
    event_key,
    legal_entity_key,
    project_id,
    rate_card_key,
    rate_cards_key,
    saga_key,
    stuck_key,
    write_key,
)

CANONICAL_ID = re.compile(r"^[A-Za-z0-9_\-:]{1,64}$")


def test_the_project_id_is_derived_from_the_opportunity_and_generation() -> None:
    first = project_id("opp-1", 1)

    assert project_id("opp-1", 1) == first  # a resumed saga names the same project
    assert project_id("opp-1", 2) != first
    assert project_id("opp-2", 1) != first
    assert CANONICAL_ID.match(first)
    assert CANONICAL_ID.match(project_id("o" * 64, 99))  # whatever the opportunity id


def test_write_keys_name_the_opportunity_generation_and_write() -> None:
    assert saga_key("opp-1", 3) == "project:opp-1:g3"
    assert write_key("opp-1", 3, Write.ERP_SHELL) == "project:opp-1:g3:erp-shell"
    keys = {write_key("opp-1", 1, write) for write in Write}
    assert len(keys) == len(Write)
    assert keys.isdisjoint({write_key("opp-1", 2, write) for write in Write})


def test_event_and_stuck_keys_are_one_per_generation_and_visit() -> None:
    assert event_key("opp-1", 1, "ProjectActivated") == "project:opp-1:g1:ProjectActivated"
    assert stuck_key("opp-1", 1, "validate", 0) != stuck_key("opp-1", 1, "validate", 4)


@pytest.mark.parametrize("generation", [0, -1])
def test_a_saga_generation_starts_at_one(generation: int) -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        saga_key("opp-1", generation)


def test_dependency_keys() -> None:
    assert customer_key("c-1") == "customer:c-1"
    assert legal_entity_key("le-de") == "legal-entity:le-de"
    assert rate_card_key("rc-1") == "rate-card:rc-1"
    assert rate_cards_key("EUR") == "rate-cards:EUR"
