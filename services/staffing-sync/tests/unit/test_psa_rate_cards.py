"""PSA rate cards become ``RateCardPublished``: the pure translation to the canonical card and
what is news (domain), the reading of the PSA's record, and the ingestion on a unit of work in
memory (no database, no network): one event per card version published, none for the same
card again or an older PSA version, a card changed without a newer version refused, a card
scoped to a project or account waiting for it, unreadable records set aside with why."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from staffing_sync.domain.rate_cards import (
    CardRow,
    CardStep,
    CardVersion,
    InvalidRateCardError,
    PsaCard,
    RateCardChangedInPlaceError,
    next_card_step,
    published_version,
    rate_card,
)
from staffing_sync.service_layer.psa_rate_cards import PsaRateCards, psa_rate_card_id
from staffing_sync.service_layer.unit_of_work import (
    AbstractCrmAccounts,
    AbstractProjects,
    AbstractPsaRateCards,
    AbstractRateCards,
    AbstractUnitOfWork,
    CrmAccount,
    KnownProject,
    KnownPsaRateCard,
)
from tandem_connectors.fakes import FakeCrossReferences
from tandem_connectors.inbound import RecordRejected, RecordWaits
from tandem_connectors.landing import Landed
from tandem_contracts import Envelope, ExternalRef, Money, SystemKind
from tandem_contracts.entities import (
    BillingModel,
    Project,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
)
from tandem_contracts.events import RateCardPublished

UPDATED = "2026-03-10T09:00:00+00:00"
REF = ExternalRef(system=SystemKind.PSA, instance="psa", object_type="rate_card",
                  external_id="rcd_1")  # fmt: skip
REGIONS = {"le-de": "eu", "le-us": "us"}


class MemoryProjects(AbstractProjects):
    def __init__(self) -> None:
        self.kept: dict[str, KnownProject] = {}

    async def get(self, project_id: str) -> KnownProject | None:
        return self.kept.get(project_id)

    async def keep(self, project: KnownProject) -> bool:
        self.kept[project.project.id] = project
        return True


class MemoryPsaRateCards(AbstractPsaRateCards):
    def __init__(self) -> None:
        self.kept: dict[str, KnownPsaRateCard] = {}

    async def get(self, rate_card_id: str) -> KnownPsaRateCard | None:
        return self.kept.get(rate_card_id)

    async def save(self, known: KnownPsaRateCard) -> None:
        self.kept[known.rate_card_id] = known


class MemoryCrmAccounts(AbstractCrmAccounts):
    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], CrmAccount] = {}

    async def keep(self, account: CrmAccount, version: int) -> bool:
        self.kept[(account.external_id, account.instance)] = account
        return True

    async def named(self, external_id: str) -> list[CrmAccount]:
        return [a for (named, _), a in sorted(self.kept.items()) if named == external_id]


class MemoryRateCards(AbstractRateCards):
    def __init__(self) -> None:
        self.kept: dict[str, tuple[RateCard, int]] = {}

    async def keep(self, card: RateCard, published_version: int) -> bool:
        self.kept[card.id] = (card, published_version)
        return True

    async def in_currency(self, currency: str) -> list[RateCard]:
        return [card for card, _ in self.kept.values() if card.currency == currency]


class MemoryUnitOfWork(AbstractUnitOfWork):
    """What rate-card ingestion uses, in memory."""

    projects: MemoryProjects
    psa_rate_cards: MemoryPsaRateCards
    crm_accounts: MemoryCrmAccounts
    rate_cards: MemoryRateCards

    def __init__(self) -> None:
        self.refs = FakeCrossReferences()
        self.projects = MemoryProjects()
        self.psa_rate_cards = MemoryPsaRateCards()
        self.crm_accounts = MemoryCrmAccounts()
        self.rate_cards = MemoryRateCards()

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        raise AssertionError("ingestion returns its events; the kit writes them")

    async def flush(self) -> None:
        """Nothing to flush."""


def version(effective_from: str = "2026-01-01", **more: Any) -> dict[str, Any]:
    """A version as the sandbox PSA shows it: the senior consultant's row and a default."""
    return {
        "version": None, "effective_from": effective_from, "effective_to": None,
        "default_rate": "150.00", "discount_pct": None,
        "role_rates": [{"role": "Senior Consultant", "bill_rate": "210.00", "cost_rate": "90.00"}],
    } | more  # fmt: skip


def record(psa_version: int = 1, *versions: dict[str, Any], **more: Any) -> dict[str, Any]:
    """Version ``psa_version`` of the PSA card ``rcd_1`` (EUR, scoped to a practice)."""
    return {
        "id": "rcd_1", "name": "Data premium EUR", "currency": "EUR",
        "scope": {"project_id": None, "account_id": None, "region_id": None,
                  "practice_id": "ou-data", "group_id": None},
        "versions": list(versions) or [version()], "version": psa_version,
        "created_at": UPDATED, "updated_at": UPDATED,
    } | more  # fmt: skip


_sequence = itertools.count(1)


def landed(value: dict[str, Any]) -> Landed:
    return Landed(
        next(_sequence), "psa", "psa", "rate_card", str(value["id"]), int(value["version"]),
        "webhook", value,
    )  # fmt: skip


def cards(uow: MemoryUnitOfWork, home: str | None = "le-de") -> PsaRateCards:
    return PsaRateCards(uow, "psa", "acme", home, lambda entity: REGIONS.get(entity, "eu"))


def psa_card(*versions: CardVersion) -> PsaCard:
    scope = RateCardScope(practice_id="ou-data")
    return PsaCard("psa-rcd_1", "Data premium EUR", "EUR", scope, versions, REF)


def dated(start: date, number: int | None = None, rate: str = "210.00", **more: Any
          ) -> CardVersion:  # fmt: skip
    row = CardRow("senior-consultant", Decimal(rate), Decimal("90.00"))
    return CardVersion(start, rows=(row,), default_rate=Decimal("150.00"), number=number, **more)


# -- the pure translation and decisions --------------------------------------------------------


def test_a_psa_card_is_one_published_canonical_card_numbered_as_the_psa_numbers_it() -> None:
    card = rate_card(psa_card(
        dated(date(2026, 1, 1), effective_to=date(2026, 6, 30)),
        dated(date(2026, 7, 1), rate="230.00", discount_pct=Decimal("5")),
    ))  # fmt: skip
    assert (card.id, card.currency, card.status, card.refs) == (
        "psa-rcd_1", "EUR", RateCardStatus.PUBLISHED, (REF,),
    )  # fmt: skip
    assert card.scope == RateCardScope(practice_id="ou-data")
    assert [(v.version, v.effective_from, v.effective_to) for v in card.versions] == [
        (1, date(2026, 1, 1), date(2026, 6, 30)), (2, date(2026, 7, 1), None),
    ]  # fmt: skip
    [row] = card.versions[1].role_rates
    assert (row.role_id, row.bill_rate, row.cost_rate) == (
        "senior-consultant", Money.of("230.00", "EUR"), Money.of("90.00", "EUR"),
    )  # fmt: skip
    assert card.versions[1].default_rate == Money.of("150.00", "EUR")
    assert card.versions[1].discount_pct == Decimal(5)
    assert published_version(card) == 2
    # Numbers the PSA gives are kept, and order the versions, whatever order they came in.
    given = rate_card(psa_card(dated(date(2026, 7, 1), 7), dated(date(2026, 1, 1), 3)))
    assert [(v.version, v.effective_from) for v in given.versions] == [
        (3, date(2026, 1, 1)), (7, date(2026, 7, 1)),
    ]  # fmt: skip
    assert published_version(given) == 7


@pytest.mark.parametrize(
    ("versions", "why"),
    [
        ((dated(date(2026, 1, 1), 2), dated(date(2026, 7, 1))), "version 2 is given twice"),
        ((dated(date(2026, 7, 1), effective_to=date(2026, 6, 1)),), "ends before it starts"),
        ((CardVersion(date(2026, 1, 1), rows=(CardRow("analyst", Decimal(1)),) * 2),),
         "role analyst is listed twice in version 1"),
    ],
)  # fmt: skip
def test_a_card_that_cannot_be_one_canonical_card_is_refused_with_why(
    versions: tuple[CardVersion, ...], why: str
) -> None:
    with pytest.raises(InvalidRateCardError, match=why):
        rate_card(psa_card(*versions))


def test_a_card_in_no_currency_tandem_knows_is_refused() -> None:
    odd = PsaCard("psa-rcd_1", "Odd", "XXY", RateCardScope(), (dated(date(2026, 1, 1)),), REF)
    with pytest.raises(InvalidRateCardError, match="rate card psa-rcd_1: "):
        rate_card(odd)


def test_a_card_is_published_first_then_only_at_a_newer_version() -> None:
    first = rate_card(psa_card(dated(date(2026, 1, 1))))
    assert next_card_step(None, first) is CardStep.PUBLISH
    assert next_card_step(first, first) is CardStep.NOTHING
    added = rate_card(psa_card(
        dated(date(2026, 1, 1), effective_to=date(2026, 6, 30)), dated(date(2026, 7, 1)),
    ))  # fmt: skip
    assert next_card_step(first, added) is CardStep.PUBLISH
    # A rate rewritten in place would reach no consumer (each keeps a card by version).
    rewritten = rate_card(psa_card(dated(date(2026, 1, 1), rate="199.00")))
    with pytest.raises(RateCardChangedInPlaceError, match="without a newer version"):
        next_card_step(first, rewritten)
    with pytest.raises(RateCardChangedInPlaceError, match="newest 1, published 2"):
        next_card_step(added, first)  # a version taken away


# -- ingestion -------------------------------------------------------------------------------


async def test_each_new_card_version_is_published_once_on_the_cards_own_counter() -> None:
    uow = MemoryUnitOfWork()
    ingest = cards(uow)
    [first] = await ingest.translate(landed(record()))
    published = first.payload
    assert isinstance(published, RateCardPublished)
    assert published.rate_card == rate_card(psa_card(dated(date(2026, 1, 1))))
    assert published.published_version == 1
    assert published.published_at == datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert (first.subject.id, first.subject_version, first.correlation_id) == (
        "psa-rcd_1", 1, "psa-rcd_1",
    )  # fmt: skip
    assert (first.legal_entity_id, first.data_residency_region) == ("le-de", "eu")
    assert (first.producer.service, first.producer.system) == ("staffing-sync", SystemKind.PSA)
    assert first.idempotency_key == "psa:psa:psa-rcd_1:v1:RateCardPublished"
    # Kept at once, so bookings are rated from it in the next pass already.
    assert uow.rate_cards.kept["psa-rcd_1"] == (published.rate_card, 1)
    # The same version again (a duplicate webhook, the poll), and a newer PSA version that
    # changes nothing of the card: silence.
    assert await ingest.translate(landed(record())) == []
    assert await ingest.translate(landed(record(2, updated_at="2026-03-11T09:00:00+00:00"))) == []
    # A version added (the first closed the day before): published at it, next subject version.
    closed = version(effective_to="2026-06-30")
    [added] = await ingest.translate(landed(record(3, closed, version("2026-07-01"))))
    assert (added.subject_version, added.payload.published_version) == (2, 2)
    assert added.payload.rate_card.versions[0].effective_to == date(2026, 6, 30)
    # A late older version changes nothing.
    assert await ingest.translate(landed(record(1))) == []
    kept = uow.psa_rate_cards.kept["psa-rcd_1"]
    assert (kept.psa_version, kept.version, kept.announced) == (3, 2, added.payload.rate_card)


async def test_a_card_changed_without_a_newer_version_is_set_aside_and_later_ones_flow() -> None:
    uow = MemoryUnitOfWork()
    ingest = cards(uow)
    await ingest.translate(landed(record()))
    raised = version(role_rates=[{"role": "Senior Consultant", "bill_rate": "250.00"}])
    with pytest.raises(RecordRejected, match="changed without a newer version"):
        await ingest.translate(landed(record(2, raised)))
    assert uow.psa_rate_cards.kept["psa-rcd_1"].psa_version == 1  # nothing of it kept
    [next_one] = await ingest.translate(
        landed(record(3, version(effective_to="2026-06-30"), version("2026-07-01")))
    )
    assert (next_one.subject_version, next_one.payload.published_version) == (2, 2)


async def test_a_card_of_a_project_waits_for_it_then_is_announced_under_its_entity() -> None:
    uow = MemoryUnitOfWork()
    ingest = cards(uow)
    scoped = record(scope={"project_id": "prj_1"})
    with pytest.raises(RecordWaits, match="waits for PSA project prj_1 activated"):
        await ingest.translate(landed(scoped))
    assert uow.psa_rate_cards.kept == {}
    ref = ExternalRef(system=SystemKind.PSA, instance="psa", object_type="project",
                      external_id="prj_1")  # fmt: skip
    project = Project(
        id="p-1", name="Rollout", customer_id="c-1", legal_entity_id="le-us", currency="EUR",
        billing_model=BillingModel.TIME_AND_MATERIALS, status=ProjectStatus.ACTIVE, refs=(ref,),
    )  # fmt: skip
    await uow.projects.keep(KnownProject(project, "us", 2))
    await uow.refs.link("project", "p-1", ref)
    [published] = await ingest.translate(landed(scoped))
    assert published.payload.rate_card.scope == RateCardScope(project_id="p-1")
    assert (published.legal_entity_id, published.data_residency_region) == ("le-us", "us")


async def test_a_card_of_an_account_waits_for_its_customer_then_names_it() -> None:
    uow = MemoryUnitOfWork()
    ingest = cards(uow, home=None)
    scoped = record(scope={"account_id": "acc-9", "region_id": "ou-emea"})
    with pytest.raises(RecordWaits, match="waits for CRM account acc-9"):
        await ingest.translate(landed(scoped))
    await uow.crm_accounts.keep(CrmAccount("crm", "acc-9", "crm-acc-9", "le-us"), 1)
    [published] = await ingest.translate(landed(scoped))
    assert published.payload.rate_card.scope == RateCardScope(
        account_id="crm-acc-9", region_id="ou-emea"
    )
    assert (published.legal_entity_id, published.data_residency_region) == ("le-us", "us")
    # The same CRM id as another customer in a second CRM: which one is meant is not guessed.
    other = record(scope={"account_id": "acc-9"}, id="rcd_2")
    await uow.crm_accounts.keep(CrmAccount("crm-eu", "acc-9", "crm-eu-acc-9", "le-de"), 1)
    with pytest.raises(RecordRejected, match="different customer in each of 2 CRM instances"):
        await ingest.translate(landed(other))


async def test_a_firm_wide_card_needs_a_home_entity_to_be_announced_under() -> None:
    uow = MemoryUnitOfWork()
    with pytest.raises(RecordRejected, match="TANDEM_HOME_LEGAL_ENTITY"):
        await cards(uow, home=None).translate(landed(record(scope=None)))
    [published] = await cards(uow).translate(landed(record(scope=None)))
    assert published.payload.rate_card.scope == RateCardScope()


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"versions": [version(default_rate=150.0)]}, "an amount is float, not a decimal string"),
        ({"versions": [version(default_rate="-1.00")]}, "a rate is negative"),
        ({"versions": [version(default_rate="NaN")]}, "an amount is not finite"),
        ({"versions": [version(role_rates=[{"role": "!!", "bill_rate": "1.00"}])]},
         "a role rate names no role"),
        ({"versions": [version(version=0)]}, "not a positive whole number"),
        ({"versions": "all of them"}, "versions is not a list"),
        ({"scope": {"customer_id": "c-1"}}, "the scope names 'customer_id'"),
        ({"scope": {"group_id": "a group"}}, "scope group_id is not a canonical id"),
        ({"updated_at": "2026-03-10T09:00:00"}, "updated_at has no time zone"),
        ({"currency": None}, "a text field is NoneType"),
        ({"name": "x" * 201}, "rate card psa-rcd_1: name"),
    ],
)  # fmt: skip
async def test_a_record_that_is_not_a_card_is_set_aside_with_why(
    changes: dict[str, Any], why: str
) -> None:
    uow = MemoryUnitOfWork()
    with pytest.raises(RecordRejected, match=why):
        await cards(uow).translate(landed(record() | changes))
    assert uow.psa_rate_cards.kept == {}


async def test_a_record_missing_a_field_names_the_field_and_no_value() -> None:
    odd = record()
    del odd["versions"][0]["effective_from"]
    with pytest.raises(RecordRejected, match="unreadable: KeyError 'effective_from'"):
        await cards(MemoryUnitOfWork()).translate(landed(odd))
    bad_day = record(1, version(effective_from="the first of May"))
    with pytest.raises(RecordRejected, match=r"unreadable: ValueError$"):
        await cards(MemoryUnitOfWork()).translate(landed(bad_day))


def test_a_card_is_named_by_its_psa_instance_and_id() -> None:
    assert psa_rate_card_id("psa", "rcd_1") == "psa-rcd_1"
    assert psa_rate_card_id("psa", "a card") != psa_rate_card_id("psa-eu", "a card")
