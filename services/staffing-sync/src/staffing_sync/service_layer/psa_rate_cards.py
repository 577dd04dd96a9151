"""From the PSA's rate cards to ``RateCardPublished``, in arrival order per card.

Webhooks (``POST /v1/inbound/psa/{instance}``, subject ``rate_card``) and the polled feed
``rate-cards`` of the PSA that holds staffing-sync's resources land each card version once; the
PSA ingestion pass (``psa_inbound``) hands them, in arrival order per card, to ``PsaRateCards``:

* a card first seen, or with a newer version than the one published, becomes
  ``RateCardPublished`` at its newest version (``domain.rate_cards``): the canonical card, its
  id ``<psa instance>-<PSA id>``, its roles as bookings take them (``ingest.role_id``), its
  scope in canonical ids — a PSA project as the project it was activated as, a CRM account as
  the customer project-sync announced it as (``AccountUpserted``), org units as they are;
* the same card again (a duplicate webhook, the poll), or a PSA version older than one handled,
  publishes nothing;
* a card scoped to a PSA project not activated here, or to a CRM account no
  ``AccountUpserted`` named yet, **waits** (``RecordWaits``), tried again each pass;
* a card that cannot be read, or be one canonical card, or that changed without a newer version
  (no consumer would take it) is set aside with why (``RecordRejected``); the others flow.

The event takes the card's next subject version (one counter per card, kept here) and is
announced under the legal entity of its project or customer, else the firm's home entity
(``TANDEM_HOME_LEGAL_ENTITY``), in that entity's region; the card is its correlation. The card
is kept for rating bookings in the same transaction (the consumer keeps it again on delivery).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from staffing_sync.domain.rate_cards import (
    CardStep,
    InvalidRateCardError,
    PsaCard,
    next_card_step,
    published_version,
    rate_card,
)
from staffing_sync.service_layer.ingest import canonical_worker_id
from staffing_sync.service_layer.psa_rate_card_records import (
    ORG_UNIT_SCOPES,
    PsaRateCardRecord,
    read_psa_rate_card,
)
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork, KnownPsaRateCard
from tandem_connectors.inbound import Feed, RecordRejected, RecordWaits
from tandem_connectors.landing import Landed
from tandem_contracts import Envelope, ExternalRef, Producer, SystemKind
from tandem_contracts.entities import RateCard, RateCardScope
from tandem_contracts.events import RateCardPublished

__all__ = [
    "RATE_CARDS_FEED",
    "RATE_CARD_SUBJECT",
    "CardOwner",
    "PsaRateCards",
    "psa_rate_card_id",
    "rate_card_event",
]

PSA = SystemKind.PSA.value
RATE_CARD_SUBJECT = "rate_card"
RATE_CARDS_FEED = Feed("rate-cards", RATE_CARD_SUBJECT)


def psa_rate_card_id(instance: str, external_id: str) -> str:
    """The canonical id of a PSA rate card: ``<instance>-<PSA id>``, as a booking's."""
    return canonical_worker_id(instance, external_id)


@dataclass(frozen=True)
class CardOwner:
    """Whose a card's events are: a legal entity and its data's region."""

    legal_entity_id: str
    region: str


def rate_card_event(
    card: RateCard, at: datetime, owner: CardOwner, version: int, instance: str, tenant_id: str
) -> Envelope[RateCardPublished]:
    """``RateCardPublished`` of ``card`` at its newest version, at subject ``version``."""
    key = f"psa:{instance}:{card.id}:v{version}:{RateCardPublished.event_type}"
    published = RateCardPublished(
        rate_card=card, published_version=published_version(card), published_at=at
    )
    return Envelope.new(
        published,
        producer=Producer(service="staffing-sync", system=SystemKind.PSA, instance=instance),
        tenant_id=tenant_id, legal_entity_id=owner.legal_entity_id,
        data_residency_region=owner.region, correlation_id=card.id, subject_version=version,
        idempotency_key=key,
    )  # fmt: skip


@dataclass
class PsaRateCards:
    """One ingestion pass over the PSA's landed rate cards."""

    uow: AbstractUnitOfWork
    source: str
    tenant_id: str
    home_entity: str | None
    """The legal entity a card of the whole firm or of an org unit is announced under."""
    region_of: Callable[[str], str]

    def order_key(self, landed: Landed) -> str:
        """A card orders its own versions (named apart from the PSA's other records)."""
        return f"{RATE_CARD_SUBJECT}:{landed.record_id}"

    def acts_on(self, landed: Landed) -> bool:
        """Every card version may publish the card."""
        return landed.record_type == RATE_CARD_SUBJECT

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events a landed card version becomes (none: nothing new)."""
        read = read_psa_rate_card(landed.record)
        card_id = psa_rate_card_id(self.source, read.external_id)
        known = await self.uow.psa_rate_cards.get(card_id)
        if known is not None and read.psa_version <= known.psa_version:
            return []  # older than one handled, or the same again
        scope, owner = await self._scope(read)
        ref = ExternalRef(
            system=SystemKind.PSA, instance=self.source, object_type=RATE_CARD_SUBJECT,
            external_id=read.external_id,
        )  # fmt: skip
        psa_card = PsaCard(card_id, read.name, read.currency, scope, read.versions, ref)
        try:
            card = rate_card(psa_card)
            step = next_card_step(known.announced if known else None, card)
        except InvalidRateCardError as invalid:
            raise RecordRejected(str(invalid)) from None
        state = replace(
            known or KnownPsaRateCard(card_id, self.source, read.external_id, 0),
            psa_version=read.psa_version,
        )
        if step is CardStep.NOTHING:
            await self.uow.psa_rate_cards.save(state)
            return []
        state = replace(state, version=state.version + 1, announced=card)
        await self.uow.psa_rate_cards.save(state)
        await self.uow.rate_cards.keep(card, published_version(card))
        event = rate_card_event(
            card, read.updated_at, owner, state.version, self.source, self.tenant_id
        )
        return [event]

    async def _scope(self, read: PsaRateCardRecord) -> tuple[RateCardScope, CardOwner]:
        """The card's scope in canonical ids, and whose its events are: its project's, else
        its customer's, else the home entity's."""
        project_id, of_project = await self._project(read)
        account_id, of_account = await self._account(read)
        try:
            scope = RateCardScope(
                project_id=project_id, account_id=account_id,
                **{name: read.scope.get(name) for name in ORG_UNIT_SCOPES},
            )  # fmt: skip
        except ValidationError as invalid:
            field = invalid.errors(include_url=False, include_input=False)[0]["loc"][0]
            raise RecordRejected(
                f"rate card {read.external_id}: scope {field} is not a canonical id"
            ) from None
        return scope, of_project or of_account or self._home(read)

    async def _project(self, read: PsaRateCardRecord) -> tuple[str | None, CardOwner | None]:
        psa_project = read.scope.get("project_id")
        if psa_project is None:
            return None, None
        project_id = await self.uow.refs.canonical_id(
            "project", system=PSA, instance=self.source, object_type="project",
            external_id=psa_project,
        )  # fmt: skip
        known = await self.uow.projects.get(project_id) if project_id else None
        if known is None:
            raise RecordWaits(
                f"rate card {read.external_id} waits for PSA project {psa_project} activated"
            )
        return known.project.id, CardOwner(known.project.legal_entity_id, known.region)

    async def _account(self, read: PsaRateCardRecord) -> tuple[str | None, CardOwner | None]:
        account = read.scope.get("account_id")
        if account is None:
            return None, None
        named = await self.uow.crm_accounts.named(account)
        if not named:
            raise RecordWaits(f"rate card {read.external_id} waits for CRM account {account}")
        if len({found.customer_id for found in named}) > 1:
            raise RecordRejected(
                f"rate card {read.external_id}: CRM account {account} is a different customer "
                f"in each of {len(named)} CRM instances"
            )
        entity = named[0].legal_entity_id
        return named[0].customer_id, CardOwner(entity, self.region_of(entity))

    def _home(self, read: PsaRateCardRecord) -> CardOwner:
        if self.home_entity is None:
            raise RecordRejected(
                f"rate card {read.external_id} names no project or account, and no home legal "
                "entity is set to announce it under (TANDEM_HOME_LEGAL_ENTITY)"
            )
        return CardOwner(self.home_entity, self.region_of(self.home_entity))
