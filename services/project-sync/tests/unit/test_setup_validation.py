"""Validate a proposed project set-up before anything is created: every problem at once, each
typed, each saying whether it waits or needs a fix, and which key releases it."""

from project_sync.domain import (
    CustomerFacts,
    Fails,
    Passes,
    Problem,
    ProblemCode,
    ReferenceData,
    Waits,
    check_tax,
    outcome_of,
    validate_setup,
)
from tandem_contracts.entities import TaxProfile

from .q2c import proposed

BAD_VAT = check_tax("DE", "DE123", key="customer:cust-badvat")

REFERENCE = ReferenceData(
    entity_currencies={
        "le-de": frozenset({"EUR"}),
        "le-us": frozenset({"USD"}),
        "le-uk": frozenset({"GBP", "EUR"}),
    },
    allowed_entities=frozenset({"le-de", "le-us"}),
    rate_cards={"rc-eur": "EUR", "rc-usd": "USD"},
    customers={
        "cust-globex": CustomerFacts("cust-globex", erp_linked=True),
        "cust-new": CustomerFacts("cust-new", erp_linked=False),
        "cust-badvat": CustomerFacts("cust-badvat", erp_linked=True, tax_problems=tuple(BAD_VAT)),
    },
)


def codes(problems: tuple[Problem, ...]) -> list[ProblemCode]:
    return [problem.code for problem in problems]


def test_a_sound_set_up_has_no_problem() -> None:
    assert validate_setup(proposed(), REFERENCE) == ()
    assert outcome_of(validate_setup(proposed(), REFERENCE)) == Passes()


def test_every_problem_is_listed_at_once_in_field_order() -> None:
    setup = proposed(
        selling_legal_entity_id="le-uk",  # known, not allowed
        currency="USD",  # le-uk sells GBP and EUR
        customer_id="cust-badvat",  # its VAT id is invalid
        rate_card_id="rc-eur",  # in EUR, the project in USD
    )

    problems = validate_setup(setup, REFERENCE)

    assert codes(problems) == [
        ProblemCode.ENTITY_NOT_ALLOWED,
        ProblemCode.CURRENCY_NOT_ALLOWED,
        ProblemCode.VAT_INVALID,
        ProblemCode.RATE_CARD_CURRENCY_MISMATCH,
    ]
    assert [p.field for p in problems] == [
        "selling_legal_entity_id",
        "currency",
        "tax_profile.vat_id",
        "rate_card_id",
    ]
    assert problems[1].message == "le-uk does not sell in USD (only EUR, GBP)"
    outcome = outcome_of(problems)
    assert isinstance(outcome, Fails)
    assert outcome.resume_on == ("legal-entity:le-uk", "customer:cust-badvat", "rate-card:rc-eur")


def test_an_unknown_entity_is_reported_without_guessing_its_currencies() -> None:
    problems = validate_setup(proposed(selling_legal_entity_id="le-xx"), REFERENCE)
    assert codes(problems) == [ProblemCode.ENTITY_UNKNOWN]
    assert problems[0].key == "legal-entity:le-xx"


def test_with_no_allow_list_every_known_entity_may_sell() -> None:
    open_reference = ReferenceData(
        entity_currencies=REFERENCE.entity_currencies,
        rate_cards=REFERENCE.rate_cards,
        customers=REFERENCE.customers,
    )
    assert validate_setup(proposed(selling_legal_entity_id="le-uk"), open_reference) == ()


def test_a_customer_not_known_or_not_linked_yet_waits_for_it() -> None:
    for customer, code in [
        ("cust-unknown", ProblemCode.CUSTOMER_UNKNOWN),
        ("cust-new", ProblemCode.CUSTOMER_NOT_LINKED),
    ]:
        problems = validate_setup(proposed(customer_id=customer), REFERENCE)

        assert codes(problems) == [code]
        assert problems[0].waits
        assert outcome_of(problems) == Waits(f"customer:{customer}", problems)


def test_a_wait_beside_a_fix_is_a_failure_that_lists_both() -> None:
    problems = validate_setup(proposed(customer_id="cust-new", currency="GBP"), REFERENCE)

    assert codes(problems) == [
        ProblemCode.CURRENCY_NOT_ALLOWED,
        ProblemCode.CUSTOMER_NOT_LINKED,
        ProblemCode.RATE_CARD_CURRENCY_MISMATCH,
    ]
    assert isinstance(outcome_of(problems), Fails)


def test_a_proposed_tax_profile_is_checked_instead_of_the_customers() -> None:
    fixed = proposed(
        customer_id="cust-badvat", tax_profile=TaxProfile(country="DE", vat_id="DE123454789")
    )
    broken = proposed(tax_profile=TaxProfile(country="DE", vat_id="FR12345678221"))

    assert validate_setup(fixed, REFERENCE) == ()
    problems = validate_setup(broken, REFERENCE)
    assert codes(problems) == [ProblemCode.VAT_COUNTRY_MISMATCH]
    assert problems[0].key == "customer:cust-globex"


def test_without_a_rate_card_the_currency_must_have_one() -> None:
    assert validate_setup(proposed(rate_card_id=None), REFERENCE) == ()

    problems = validate_setup(
        proposed(selling_legal_entity_id="le-uk", currency="GBP", rate_card_id=None),
        ReferenceData(
            entity_currencies=REFERENCE.entity_currencies,
            rate_cards=REFERENCE.rate_cards,
            customers=REFERENCE.customers,
        ),
    )
    assert codes(problems) == [ProblemCode.RATE_CARD_MISSING]
    assert problems[0].key == "rate-cards:GBP"


def test_an_unknown_rate_card_is_released_by_its_publication() -> None:
    problems = validate_setup(proposed(rate_card_id="rc-new"), REFERENCE)
    assert codes(problems) == [ProblemCode.RATE_CARD_UNKNOWN]
    assert problems[0].key == "rate-card:rc-new"
    assert not problems[0].waits


def test_no_problems_pass_and_only_keyed_waits_wait() -> None:
    assert outcome_of([]) == Passes()
    unkeyed = Problem(ProblemCode.CUSTOMER_UNKNOWN, "customer_id", "?", key=None, waits=True)
    outcome = outcome_of([unkeyed])
    assert outcome == Fails((unkeyed,), ())
