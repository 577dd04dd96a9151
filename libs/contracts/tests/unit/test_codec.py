"""decode() turns bytes into a current-version envelope, or raises one typed DecodeError."""

import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from tandem_contracts import (
    CATALOGUE,
    Catalogue,
    DecodeError,
    EncodingError,
    Envelope,
    FloatMoneyError,
    NaiveDatetimeError,
    OversizedMessageError,
    SchemaValidationError,
    UnknownEventTypeError,
    UnknownSchemaVersionError,
    decode,
    encode,
)
from tandem_contracts.events import OpportunityLost, TimeApproved

EnvelopeFactory = Callable[..., Envelope[OpportunityLost]]


def as_dict(envelope: Envelope[Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(encode(envelope))
    return result


def raw(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def test_round_trip_is_lossless(lost_envelope: Envelope[OpportunityLost]) -> None:
    decoded = decode(encode(lost_envelope))
    assert decoded == lost_envelope
    assert isinstance(decoded.payload, OpportunityLost)


def test_the_wire_format_is_plain_json(lost_envelope: Envelope[OpportunityLost]) -> None:
    data = as_dict(lost_envelope)
    assert data["event_type"] == "OpportunityLost"
    assert data["occurred_at"].endswith("Z")
    assert data["payload"]["lost_at"] == "2026-11-02T09:30:00Z"
    assert "traceparent" not in json.dumps(data)


def test_oversized_bodies_are_refused_before_parsing(
    lost_envelope: Envelope[OpportunityLost],
) -> None:
    body = encode(lost_envelope)
    with pytest.raises(OversizedMessageError) as caught:
        decode(body, max_bytes=len(body) - 1)
    assert caught.value.reason == "oversized"
    assert decode(body, max_bytes=len(body)) == lost_envelope


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"", "not a JSON object"),
    ],
)
def test_bytes_that_are_not_a_json_object(body: bytes, says: str) -> None:
    with pytest.raises(EncodingError, match=says):
        decode(body)


def test_unknown_type_and_version(lost_envelope: Envelope[OpportunityLost]) -> None:
    data = as_dict(lost_envelope)
    with pytest.raises(UnknownEventTypeError, match="OpportunityWon"):
        decode(raw({**data, "event_type": "OpportunityWon"}))
    with pytest.raises(UnknownSchemaVersionError) as caught:
        decode(raw({**data, "schema_version": 9}))
    assert caught.value.known == (1,)


def test_an_invalid_payload_names_the_field_path(
    lost_envelope: Envelope[OpportunityLost],
) -> None:
    data = as_dict(lost_envelope)
    data["payload"]["stage"] = ""
    del data["tenant_id"]
    with pytest.raises(SchemaValidationError) as caught:
        decode(raw(data))
    assert set(caught.value.paths) == {"payload.stage", "tenant_id"}
    assert caught.value.event_type == "OpportunityLost"
    assert "payload.stage" in str(caught.value)


def test_an_unknown_field_is_refused(lost_envelope: Envelope[OpportunityLost]) -> None:
    data = as_dict(lost_envelope)
    data["payload"]["amount"] = "100.00"
    with pytest.raises(SchemaValidationError) as caught:
        decode(raw(data))
    assert caught.value.paths == ("payload.amount",)


def test_a_naive_datetime_has_its_own_error(lost_envelope: Envelope[OpportunityLost]) -> None:
    data = as_dict(lost_envelope)
    data["payload"]["lost_at"] = "2026-11-02T09:30:00"
    with pytest.raises(NaiveDatetimeError) as caught:
        decode(raw(data))
    assert caught.value.paths == ("payload.lost_at",)
    assert isinstance(caught.value, SchemaValidationError)


def test_float_money_has_its_own_error() -> None:
    from tandem_contracts.samples import sample_envelopes

    approved = next(e for e in sample_envelopes() if isinstance(e.payload, TimeApproved))
    data = as_dict(approved)
    data["payload"]["entry"]["bill_rate"]["amount"] = 150.25
    with pytest.raises(FloatMoneyError) as caught:
        decode(raw(data))
    assert caught.value.paths == ("payload.entry.bill_rate.amount",)
    assert caught.value.reason == "float_money"


def test_every_decode_error_has_a_stable_reason() -> None:
    reasons = {
        cls.reason
        for cls in (
            OversizedMessageError,
            EncodingError,
            UnknownEventTypeError,
            UnknownSchemaVersionError,
            SchemaValidationError,
            NaiveDatetimeError,
            FloatMoneyError,
        )
    }
    assert len(reasons) == 7
    assert all(issubclass(cls, DecodeError) for cls in (FloatMoneyError, NaiveDatetimeError))


class LostV1(OpportunityLost):
    """OpportunityLost as first published: a free-text reason."""


class LostV2(OpportunityLost):
    """OpportunityLost v2: the reason became a required code."""

    schema_version: ClassVar[int] = 2
    reason_code: str


def lost_v2_from_v1(old: LostV1) -> LostV2:
    return LostV2(**old.model_dump(), reason_code=(old.reason or "unknown").upper())


def test_older_versions_are_upcast_to_the_current_one(
    lost_envelope: Envelope[OpportunityLost],
) -> None:
    catalogue = Catalogue()
    catalogue.register(LostV1)
    catalogue.register(LostV2, upcast=lost_v2_from_v1)
    decoded = decode(encode(lost_envelope), catalogue)
    assert isinstance(decoded.payload, LostV2)
    assert decoded.schema_version == 2
    assert decoded.payload.reason_code == "BUDGET"
    assert decoded.event_id == lost_envelope.event_id
    assert decoded.correlation_id == lost_envelope.correlation_id


def test_the_default_catalogue_holds_the_v1_catalogue() -> None:
    required = """AccountUpserted CustomerLinked OpportunityStageChanged OpportunityCommitted
    OpportunityLost OpportunityReopened ProjectShellCreated SOWApproved ProjectActivated
    ChangeOrderApproved ProjectClosedForTime ProjectCancelled ProjectFlaggedForFinance
    ConsultantOnboarded WorkerUpdated WorkerTerminated CostRateChanged
    ResourceRequested StaffingOptionsProposed AssignmentConfirmed AssignmentCancelled
    RateCardPublished TimeSubmitted TimeApproved TimeRejected TimeAdjusted TimePosted
    TimePostingFailed ExpenseApproved ExpensePosted ExpenseRejected PeriodClosed PeriodReopened
    MilestoneCompleted ChargeCreated ChargeHeld ChargeReleased
    InvoiceReady InvoicePosted InvoiceCredited RevenueLeakageDetected
    UtilizationThresholdBreached ReconciliationMismatch MessageParked QuoteToCashStuck""".split()
    assert sorted(m.event_type for m in CATALOGUE) == sorted(required)


@pytest.mark.parametrize("model", list(CATALOGUE), ids=lambda m: m.event_type)
def test_each_event_documents_its_system_of_record_and_trigger(model: type[Any]) -> None:
    doc = model.__doc__ or ""
    assert "SoR:" in doc
    assert "Trigger:" in doc
    assert model.producers, "someone must publish it"


def test_a_type_hint_never_changes_the_result(lost_envelope: Envelope[OpportunityLost]) -> None:
    from tandem_contracts import message_type

    body = encode(lost_envelope)
    assert message_type(lost_envelope) == "OpportunityLost.v1"
    for hint in ("OpportunityLost.v1", "TimeApproved.v1", "Nope.v9", "garbage", ""):
        assert decode(body, type_hint=hint) == lost_envelope
    broken = body.replace(b'"Closed Lost"', b'""')
    for hint in ("OpportunityLost.v1", "TimeApproved.v1"):
        with pytest.raises(SchemaValidationError) as caught:
            decode(broken, type_hint=hint)
        assert caught.value.paths == ("payload.stage",)
