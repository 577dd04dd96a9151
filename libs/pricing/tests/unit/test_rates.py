"""Bill rates resolve once, by scope precedence and effective date, and say where they came from."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem_contracts import Money
from tandem_contracts.entities import (
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RoleRate,
)
from tandem_pricing import SCOPE_PRECEDENCE, RateQuery, resolve_bill_rate

QUERY = RateQuery(
    project_id="prj-1",
    account_id="acc-1",
    role_id="senior",
    currency="USD",
    on=date(2026, 10, 15),
    org_unit_ids=frozenset({"amer", "data", "grp"}),
)
SCOPES = {
    "project": RateCardScope(project_id="prj-1"),
    "account": RateCardScope(account_id="acc-1"),
    "region": RateCardScope(region_id="amer"),
    "practice": RateCardScope(practice_id="data"),
    "group": RateCardScope(group_id="grp"),
    "tenant": RateCardScope(),
}


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def card(
    level: str,
    rate: str,
    *,
    currency: str = "USD",
    versions: tuple[RateCardVersion, ...] | None = None,
    status: RateCardStatus = RateCardStatus.PUBLISHED,
    scope: RateCardScope | None = None,
) -> RateCard:
    if versions is None:
        row = RoleRate(role_id="senior", bill_rate=Money.of(rate, currency))
        versions = (RateCardVersion(version=1, effective_from=date(2026, 1, 1), role_rates=(row,)),)
    return RateCard(
        id=f"card-{level}-{rate}",
        name=f"{level} card",
        currency=currency,
        scope=scope or SCOPES[level],
        versions=versions,
        status=status,
    )


def test_the_project_card_wins_over_every_broader_scope() -> None:
    cards = [card(level, str(100 + i)) for i, level in enumerate(SCOPE_PRECEDENCE)]
    resolved = resolve_bill_rate(reversed(cards), QUERY)
    assert resolved is not None
    assert resolved.rate == usd("100")
    assert resolved.source.scope_level == "project"
    assert resolved.source.rate_card_id == "card-project-100"
    assert resolved.source.rate_card_version == 1
    assert resolved.source.role_id == "senior"


@given(st.sets(st.sampled_from(SCOPE_PRECEDENCE), min_size=1))
def test_the_most_specific_present_scope_answers(levels: set[str]) -> None:
    cards = [card(level, str(200 + SCOPE_PRECEDENCE.index(level))) for level in levels]
    resolved = resolve_bill_rate(cards, QUERY)
    best = min(levels, key=SCOPE_PRECEDENCE.index)
    assert resolved is not None
    assert resolved.source.scope_level == best


def test_account_beats_region_beats_practice_as_certinia_orders_them() -> None:
    cards = [card("practice", "150"), card("region", "160"), card("account", "170")]
    assert resolve_bill_rate(cards, QUERY).rate == usd("170")  # type: ignore[union-attr]
    assert resolve_bill_rate(cards[:2], QUERY).rate == usd("160")  # type: ignore[union-attr]


def test_cards_for_another_project_currency_or_unpublished_never_answer() -> None:
    other_project = card("project", "999", scope=RateCardScope(project_id="prj-2"))
    in_euros = card("project", "998", currency="EUR")
    draft = card("project", "997", status=RateCardStatus.DRAFT)
    fallback = card("tenant", "120")
    resolved = resolve_bill_rate([other_project, in_euros, draft, fallback], QUERY)
    assert resolved is not None
    assert resolved.rate == usd("120")
    assert resolve_bill_rate([other_project, in_euros, draft], QUERY) is None


def test_the_version_in_force_on_the_work_date_answers_and_later_ones_do_not_rerate() -> None:
    v1 = RateCardVersion(
        version=1,
        effective_from=date(2026, 1, 1),
        effective_to=date(2026, 10, 15),
        role_rates=(RoleRate(role_id="senior", bill_rate=usd("150")),),
    )
    v2 = RateCardVersion(
        version=2,
        effective_from=date(2026, 10, 16),
        role_rates=(RoleRate(role_id="senior", bill_rate=usd("165")),),
    )
    cards = [card("project", "x", versions=(v2, v1))]
    on_15th = resolve_bill_rate(cards, QUERY)
    on_16th = resolve_bill_rate(cards, RateQuery(**{**QUERY.__dict__, "on": date(2026, 10, 16)}))
    assert on_15th is not None
    assert on_16th is not None
    assert (on_15th.rate, on_15th.source.rate_card_version) == (usd("150"), 1)
    assert (on_16th.rate, on_16th.source.rate_card_version) == (usd("165"), 2)


def test_a_missing_role_row_falls_back_to_the_default_rate_less_the_discount() -> None:
    version = RateCardVersion(
        version=3,
        effective_from=date(2026, 1, 1),
        default_rate=usd("200"),
        discount_pct=Decimal("12.5"),
        role_rates=(RoleRate(role_id="junior", bill_rate=usd("90")),),
    )
    resolved = resolve_bill_rate([card("account", "x", versions=(version,))], QUERY)
    assert resolved is not None
    assert resolved.rate == usd("175.00")
    assert resolved.source.role_id is None
    assert resolved.source.scope_level == "account"


def test_a_card_with_no_version_in_force_gives_way_to_the_next_scope() -> None:
    future = RateCardVersion(
        version=1,
        effective_from=date(2027, 1, 1),
        role_rates=(RoleRate(role_id="senior", bill_rate=usd("300")),),
    )
    cards = [card("project", "x", versions=(future,)), card("region", "140")]
    resolved = resolve_bill_rate(cards, QUERY)
    assert resolved is not None
    assert (resolved.rate, resolved.source.scope_level) == (usd("140"), "region")


@pytest.mark.parametrize("currency", ["JPY", "INR"])
def test_rates_are_rounded_to_the_currency_minor_unit(currency: str) -> None:
    version = RateCardVersion(
        version=1,
        effective_from=date(2026, 1, 1),
        default_rate=Money.of("1001", currency),
        discount_pct=Decimal("3.33"),
    )
    query = RateQuery(**{**QUERY.__dict__, "currency": currency})
    resolved = resolve_bill_rate(
        [card("tenant", "x", currency=currency, versions=(version,))], query
    )
    assert resolved is not None
    exact = Decimal("1001") * Decimal("0.9667")
    assert resolved.rate == Money(amount=exact, currency=currency)


def test_an_org_scoped_card_applies_only_to_projects_in_that_org_unit() -> None:
    elsewhere = RateQuery(**{**QUERY.__dict__, "org_unit_ids": frozenset({"emea", "cloud"})})
    cards = [card("practice", "150"), card("tenant", "120")]
    assert resolve_bill_rate(cards, QUERY).rate == usd("150")  # type: ignore[union-attr]
    assert resolve_bill_rate(cards, elsewhere).rate == usd("120")  # type: ignore[union-attr]


def test_resolution_agrees_with_the_scenario_generator_on_a_whole_month() -> None:
    """Two implementations, one rule: the sandbox firm's frozen rates are what we resolve."""
    from tandem_sandbox.scenario import generate

    firm = generate(7)
    projects = {p.id: p for p in firm.projects}
    checked = 0
    for entry in firm.time_entries:
        if entry.status != "approved" or not entry.billable or entry.role_id is None:
            continue
        project = projects[entry.project_id]
        query = RateQuery(
            project_id=project.id,
            account_id=project.customer_id,
            role_id=entry.role_id,
            currency=project.currency,
            on=entry.work_date,
            org_unit_ids=frozenset(project.org_unit_ids),
        )
        resolved = resolve_bill_rate(firm.rate_cards, query)
        assert resolved is not None, entry.id
        assert (resolved.rate, resolved.source) == (entry.bill_rate, entry.rate_source)
        checked += 1
    assert checked > 4000
