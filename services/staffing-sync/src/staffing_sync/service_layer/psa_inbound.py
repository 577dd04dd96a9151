"""What staffing-sync takes in from the PSA that holds its resources: bookings, resource
requests and rate cards, through one source.

The kit keeps one inbound source per system instance (webhooks arrive at
``/v1/inbound/psa/{instance}`` and land in that instance's landing rows, ingested by one pass),
so the record types share ``PSA_INBOUND`` and ``PsaIngestion`` sends each landed record to its
own ingestion by record type: ``assignment`` to ``PsaBookings``, ``resource_request`` to
``PsaRequests``, ``rate_card`` to ``PsaRateCards``. Their order keys are kept apart, so a
booking never waits behind a request or a card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from staffing_sync.service_layer.bookings import BOOKING_SUBJECT, BOOKINGS_FEED, PsaBookings
from staffing_sync.service_layer.psa_rate_cards import (
    RATE_CARD_SUBJECT,
    RATE_CARDS_FEED,
    PsaRateCards,
)
from staffing_sync.service_layer.resource_requests import (
    REQUEST_SUBJECT,
    REQUESTS_FEED,
    PsaRequests,
)
from tandem_connectors.inbound import Inbound
from tandem_connectors.landing import Landed
from tandem_contracts import Envelope, SystemKind

__all__ = ["PSA_INBOUND", "PsaIngestion"]

PSA_INBOUND = Inbound(
    system=SystemKind.PSA.value,
    feeds=(BOOKINGS_FEED, REQUESTS_FEED, RATE_CARDS_FEED),
    webhook_subjects=frozenset({BOOKING_SUBJECT, REQUEST_SUBJECT, RATE_CARD_SUBJECT}),
)


@dataclass
class PsaIngestion:
    """One ingestion pass over the PSA's landed bookings, resource requests and rate cards."""

    bookings: PsaBookings
    requests: PsaRequests
    rate_cards: PsaRateCards

    def _of(self, landed: Landed) -> PsaBookings | PsaRequests | PsaRateCards:
        if landed.record_type == REQUEST_SUBJECT:
            return self.requests
        if landed.record_type == RATE_CARD_SUBJECT:
            return self.rate_cards
        return self.bookings

    def order_key(self, landed: Landed) -> str:
        """The order key of the record's own ingestion."""
        return self._of(landed).order_key(landed)

    def acts_on(self, landed: Landed) -> bool:
        """Whether the record's own ingestion acts on this version."""
        return self._of(landed).acts_on(landed)

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events the record's own ingestion makes of it."""
        return await self._of(landed).translate(landed)
