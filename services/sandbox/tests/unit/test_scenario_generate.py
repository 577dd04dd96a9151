"""The scenario generator: determinism, arguments, and the acceptance floor of its content."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from functools import cache

import pytest

from tandem_contracts.entities import (
    BillingModel,
    CustomerStatus,
    OpportunityStatus,
    OrgUnitType,
    TimeEntryStatus,
    WorkerStatus,
)
from tandem_sandbox.scenario import Firm, generate, summary, to_json


@cache
def default_firm() -> Firm:
    return generate()


@pytest.fixture(scope="module")
def firm() -> Firm:
    return default_firm()


def test_same_seed_and_arguments_give_byte_identical_json(firm: Firm) -> None:
    assert to_json(generate()) == to_json(firm)


def test_a_different_seed_gives_a_different_firm(firm: Firm) -> None:
    other = generate(8)
    assert to_json(other) != to_json(firm)
    assert {w.id for w in other.workers}.isdisjoint(w.id for w in firm.workers)


def test_to_json_is_sorted_canonical_json(firm: Firm) -> None:
    text = to_json(firm)
    document = json.loads(text)
    assert json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
    assert len(document["time_entries"]) == len(firm.time_entries)


def test_any_day_of_the_month_selects_that_month() -> None:
    firm = generate(3, consultants=12, customers=6, month=date(2027, 2, 17))
    assert firm.month == date(2027, 2, 1)
    assert all(e.work_date.month == 2 for e in firm.time_entries)


@pytest.mark.parametrize(("consultants", "customers"), [(9, 60), (220, 5)])
def test_too_small_a_firm_is_refused(consultants: int, customers: int) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate(consultants=consultants, customers=customers)


def test_counts_meet_the_floor(firm: Firm) -> None:
    counts = summary(firm)
    assert counts["consultants"] == 220
    assert counts["customers"] == 60
    assert int(counts["resources"]) > 220  # one per worker plus placeholders
    assert int(counts["projects"]) >= 50
    assert int(counts["entries"]) >= 4000
    assert int(counts["expenses"]) >= 100
    assert int(counts["minutes"]) == sum(e.duration_minutes for e in firm.time_entries)


def test_legal_entities_cover_the_required_countries_currencies_and_regions(firm: Firm) -> None:
    shape = {
        (e.country, e.functional_currency, e.data_residency_region) for e in firm.legal_entities
    }
    assert {("US", "USD", "us"), ("DE", "EUR", "eu"), ("IN", "INR", "in")} <= shape
    assert ("GB", "GBP", "uk") in shape
    assert all(summary(firm)[f"entity.{e.country}.consultants"] for e in firm.legal_entities)


def test_org_units_hold_practices_and_regions_under_the_group(firm: Firm) -> None:
    kinds = Counter(unit.type for unit in firm.org_units)
    assert kinds[OrgUnitType.PRACTICE] >= 4
    assert {u.name for u in firm.org_units if u.type is OrgUnitType.REGION} == {
        "Americas",
        "EMEA",
        "APAC",
    }
    group = next(u for u in firm.org_units if u.type is OrgUnitType.GROUP)
    assert all(u.parent_id == group.id for u in firm.org_units if u is not group)


def test_people_include_hires_terminations_and_rated_skills(firm: Firm) -> None:
    statuses = Counter(w.status for w in firm.workers)
    assert statuses[WorkerStatus.TERMINATED] >= 2
    assert any(firm.month <= w.hire_date for w in firm.workers)
    ratings = [r.level for res in firm.resources for r in res.skills]
    assert set(ratings) <= {1, 2, 3, 4, 5}
    assert len(set(ratings)) >= 4
    assert any(r.worker_id is None for r in firm.resources)


def test_some_cost_rates_change_in_the_middle_of_the_month(firm: Firm) -> None:
    mid = [r for r in firm.cost_rates if firm.month < r.effective_from <= date(2026, 10, 31)]
    assert len(mid) >= 5


def test_customers_span_currencies_and_eu_b2b_customers_have_vat_ids(firm: Firm) -> None:
    assert len({c.currency for c in firm.customers}) >= 6
    assert len({c.country for c in firm.customers}) >= 8
    eu = [c for c in firm.customers if c.country in {"DE", "FR", "NL", "IE", "ES", "IT", "AT"}]
    assert len(eu) >= 5
    assert all(c.tax_profile.vat_id and c.tax_profile.vat_id[:2] == c.country for c in eu)
    assert any(c.tax_profile.vat_id_validated_at is not None for c in eu)
    assert CustomerStatus.PROSPECT in {c.status for c in firm.customers}


def test_pipeline_has_every_stage_class_and_only_won_deals_have_projects(firm: Firm) -> None:
    statuses = Counter(o.status for o in firm.opportunities)
    assert all(statuses[s] for s in OpportunityStatus)
    won = {o.id for o in firm.opportunities if o.status is OpportunityStatus.COMMITTED}
    assert {p.opportunity_id for p in firm.projects} == won
    assert {c.opportunity_id for c in firm.contracts} == won


def test_projects_mix_billing_models_and_assignment_rules(firm: Firm) -> None:
    models = Counter(p.billing_model for p in firm.projects)
    assert models.most_common(1)[0][0] is BillingModel.TIME_AND_MATERIALS
    assert models[BillingModel.FIXED_FEE] >= 3
    requiring = [p.flags.time_requires_assignment for p in firm.projects]
    assert any(requiring)
    assert not all(requiring)
    assert len({p.legal_entity_id for p in firm.projects}) == len(firm.legal_entities)


def test_some_time_is_cross_entity_but_most_is_not(firm: Firm) -> None:
    share = int(summary(firm)["cross_entity_entries"]) / len(firm.time_entries)
    assert 0.05 < share < 0.5


def test_time_is_mostly_approved_with_some_submitted_rejected_and_noted(firm: Firm) -> None:
    statuses = Counter(e.status for e in firm.time_entries)
    assert statuses[TimeEntryStatus.APPROVED] > 0.7 * len(firm.time_entries)
    assert statuses[TimeEntryStatus.SUBMITTED]
    assert statuses[TimeEntryStatus.REJECTED]
    assert 0 < sum(e.notes is not None for e in firm.time_entries) < 0.2 * len(firm.time_entries)


def test_expenses_cover_travel_meals_and_lodging_in_several_currencies(firm: Firm) -> None:
    assert {x.category for x in firm.expenses} == {"travel", "meals", "lodging"}
    assert len({x.amount.currency for x in firm.expenses}) >= 4
    assert any(x.fx is not None for x in firm.expenses)


def test_periods_close_last_month_and_open_this_and_next(firm: Firm) -> None:
    for entity in firm.legal_entities:
        mine = sorted(
            (p for p in firm.periods if p.legal_entity_id == entity.id), key=lambda p: p.start_date
        )
        assert [p.name for p in mine] == ["2026-09", "2026-10", "2026-11"]
        assert [p.status.value for p in mine] == ["closed", "open", "open"]


def test_lookup_helpers_find_entities_by_id(firm: Firm) -> None:
    entry = firm.time_entries[0]
    assert firm.by_id(entry.id) is entry
    worker = firm.get(type(firm.workers[0]), entry.worker_id)
    assert worker.id == entry.worker_id
    with pytest.raises(TypeError):
        firm.get(type(firm.workers[0]), entry.project_id)
    rate = firm.cost_rate_on(entry.worker_id, entry.work_date)
    assert rate is not None
    assert rate.hourly_cost == entry.cost_rate


def test_summary_counts_per_entity_and_currency_add_up(firm: Firm) -> None:
    counts = summary(firm)
    per_entity = sum(int(v) for k, v in counts.items() if k.endswith(".consultants"))
    per_currency = sum(
        int(v) for k, v in counts.items() if k.endswith(".projects") and k.startswith("currency.")
    )
    assert per_entity == counts["consultants"]
    assert per_currency == counts["projects"]
