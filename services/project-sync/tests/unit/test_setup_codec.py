"""A saga's set-up survives its JSON column: org units kept, and a set-up stored before they
were (no key at all) reads as having none."""

from __future__ import annotations

from project_sync.adapters.codec import setup_from, setup_json
from project_sync.domain.setup import ProjectSetup


def test_a_setup_round_trips_with_its_org_units() -> None:
    setup = ProjectSetup(
        opportunity_id="crm-opp-1", name="Roll-out", selling_legal_entity_id="le-de",
        customer_id="crm-acc-1", currency="EUR", org_unit_ids=("ou-data", "ou-emea"),
    )  # fmt: skip
    assert setup_from(setup_json(setup)) == setup


def test_a_setup_stored_before_org_units_reads_as_none() -> None:
    stored = setup_json(
        ProjectSetup(
            opportunity_id="crm-opp-2",
            name="Audit",
            selling_legal_entity_id="le-us",
            customer_id="crm-acc-2",
            currency="USD",
        )
    )
    del stored["org_unit_ids"]
    assert setup_from(stored).org_unit_ids == ()
