from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from tandem_contracts import Envelope, Producer, routing_key, uuid7
from tandem_contracts.events import OpportunityLost

LostFactory = Callable[..., OpportunityLost]
EnvelopeFactory = Callable[..., Envelope[OpportunityLost]]


def test_new_takes_type_version_and_subject_from_the_payload(
    envelope_of: EnvelopeFactory, lost: LostFactory
) -> None:
    envelope = envelope_of(lost("opp-42"))
    assert (envelope.event_type, envelope.schema_version) == ("OpportunityLost", 1)
    assert (envelope.subject.type, envelope.subject.id) == ("opportunity", "opp-42")
    assert envelope.idempotency_key == "OpportunityLost:opp-42:1"
    assert envelope.event_id.version == 7
    assert envelope.occurred_at.tzinfo is UTC


def test_event_ids_are_time_ordered_uuid7() -> None:
    ids = [uuid7() for _ in range(200)]
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert len(set(ids)) == 200
    # The first 48 bits are milliseconds: ids never go back in time.
    stamps = [i.int >> 80 for i in ids]
    assert stamps == sorted(stamps)


def test_occurred_at_is_normalised_to_utc_and_naive_is_refused(
    envelope_of: EnvelopeFactory, lost: LostFactory, at: datetime
) -> None:
    paris = timezone(timedelta(hours=1))
    envelope = envelope_of(lost(), occurred_at=datetime(2026, 11, 2, 10, 30, tzinfo=paris))
    assert envelope.occurred_at == at
    assert envelope.occurred_at.tzinfo is UTC
    with pytest.raises(ValidationError, match="timezone"):
        envelope_of(lost(), occurred_at=datetime(2026, 11, 2, 10, 30))


def test_envelope_is_frozen(lost_envelope: Envelope[OpportunityLost]) -> None:
    with pytest.raises(ValidationError):
        lost_envelope.tenant_id = "other"  # type: ignore[misc]


def test_a_non_v7_event_id_is_refused(lost_envelope: Envelope[OpportunityLost]) -> None:
    data = lost_envelope.model_dump()
    data["event_id"] = "9b2f4b0e-3d7a-4f59-8b1e-1d1f7c0a9a10"  # a v4
    with pytest.raises(ValidationError, match="UUIDv7"):
        Envelope[OpportunityLost].model_validate(data)


def test_metadata_must_agree_with_the_payload(lost_envelope: Envelope[OpportunityLost]) -> None:
    data = lost_envelope.model_dump()
    with pytest.raises(ValidationError, match="payload is OpportunityLost"):
        Envelope[OpportunityLost].model_validate({**data, "event_type": "OpportunityWon"})
    wrong_subject = {**data["subject"], "id": "opp-other"}
    with pytest.raises(ValidationError, match="subject"):
        Envelope[OpportunityLost].model_validate({**data, "subject": wrong_subject})


def test_caused_continues_the_workflow(
    lost_envelope: Envelope[OpportunityLost], lost: LostFactory
) -> None:
    follow_up = lost_envelope.caused(
        lost("opp-0002"), producer=Producer(service="project-sync"), subject_version=3
    )
    assert follow_up.correlation_id == lost_envelope.correlation_id
    assert follow_up.causation_id == str(lost_envelope.event_id)
    assert (follow_up.tenant_id, follow_up.legal_entity_id, follow_up.data_residency_region) == (
        "acme",
        "le-de",
        "eu",
    )
    assert follow_up.event_id != lost_envelope.event_id
    assert follow_up.subject_version == 3


def test_routing_key_puts_region_before_legal_entity(
    lost_envelope: Envelope[OpportunityLost],
) -> None:
    assert routing_key(lost_envelope) == "crm.OpportunityLost.v1.eu.le-de"
    assert lost_envelope.routing_key == routing_key(lost_envelope)


@pytest.mark.parametrize("bad", ["EU", "e", "eu-west", ""])
def test_region_is_a_short_lowercase_word(
    bad: str, envelope_of: EnvelopeFactory, lost: LostFactory
) -> None:
    with pytest.raises(ValidationError):
        envelope_of(lost(), data_residency_region=bad)
