"""Webhook signatures (v2: timestamp, delivery id and body) and the bodies a webhook may carry."""

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from tandem_connectors.landing import MAX_RECORD_BYTES, RecordRefused, check_record
from tandem_connectors.webhooks import (
    WebhookEvent,
    WebhookRejected,
    read_webhook_event,
    sign,
    verify,
)

SECRET = b"psa-webhook-secret"
BODY = b'{"subject": {"type": "time_entry"}, "data": {"id": "te-1", "version": 3}}'


def signed(body: bytes = BODY, delivery: str = "d-1", at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "X-Tandem-Signature": sign(SECRET, body, stamp, delivery=delivery),
        "X-Tandem-Delivery": delivery,
    }


def refusal(body: bytes, headers: dict[str, str]) -> str:
    with pytest.raises(WebhookRejected) as refused:
        verify(SECRET, body, headers)
    return refused.value.reason


def test_a_signed_request_verifies_as_its_delivery() -> None:
    assert verify(SECRET, BODY, signed()) == "d-1"
    assert signed()["X-Tandem-Signature"].split(",")[1].startswith("v2=")


def test_a_captured_request_resent_under_a_new_delivery_id_is_refused() -> None:
    captured = signed(delivery="d-1")

    resent = {**captured, "X-Tandem-Delivery": "d-2"}

    assert refusal(BODY, resent) == "bad_signature"


def test_a_v1_signature_over_timestamp_and_body_only_is_refused() -> None:
    stamp = int(time.time())
    v1 = hmac.new(SECRET, f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"X-Tandem-Signature": f"t={stamp},v1={v1}", "X-Tandem-Delivery": "d-1"}

    assert refusal(BODY, headers) == "signature_version"


@pytest.mark.parametrize(
    "delivery",
    ["d" * 129, "d 1", "d.1", "d-\x01", "d-\x00", "dé", "d-\ud800"],
    ids=["too-long", "space", "dot", "control", "nul", "not-ascii", "surrogate"],
)
def test_a_malformed_delivery_id_is_refused_before_the_signature_is_checked(
    delivery: str,
) -> None:
    headers = {"X-Tandem-Signature": signed()["X-Tandem-Signature"], "X-Tandem-Delivery": delivery}

    assert refusal(BODY, headers) == "malformed_delivery"
    with pytest.raises(WebhookRejected):  # a sender cannot sign one either
        sign(SECRET, BODY, int(time.time()), delivery=delivery)


def test_a_delivery_id_of_128_printable_characters_is_accepted() -> None:
    delivery = "A-z_0~9:" * 16
    assert verify(SECRET, BODY, signed(delivery=delivery)) == delivery


@pytest.mark.parametrize(
    "signature",
    [
        "t=1700000000",
        "v2=" + "0" * 64,
        "t=soon,v2=" + "0" * 64,
        "t=1700000000,v2=" + "0" * 63,
        "t=1700000000,v2=" + "G" * 64,
        "t=1700000000,v2=" + "0" * 64 + "," + "x" * 300,
        "t=1700000000,v2=" + "é" * 64,
        "t=99999999999999999999,v2=" + "0" * 64,
    ],
    ids=["no-digest", "no-time", "time-not-a-number", "short", "not-hex", "long", "not-ascii",
         "time-too-large"],
)  # fmt: skip
def test_a_malformed_signature_header_is_refused(signature: str) -> None:
    headers = {"X-Tandem-Signature": signature, "X-Tandem-Delivery": "d-1"}

    assert refusal(BODY, headers) == "malformed_signature"


def test_a_stale_signature_is_refused() -> None:
    assert refusal(BODY, signed(at=int(time.time()) - 3600)) == "stale"


def event(record: Any, subject: Any = None) -> bytes:
    return json.dumps({"subject": subject or {"type": "time_entry"}, "data": record}).encode()


def nested(levels: int) -> bytes:
    return b'{"data": {"id": "te-1", "version": 1, "x": ' + b"[" * levels + b"]" * levels + b"}}"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (event({"id": "te-1", "version": 2**70}), "'version' must be an integer"),
        (event({"id": "te-1", "version": -1}), "'version' must be an integer"),
        (event({"id": "te-1", "version": 1, "minutes": 2**63}), "$.minutes is an integer beyond"),
        (event({"id": "te-1", "version": 1, "x": [{"y": -(2**63) - 1}]}), "$.x[0].y is an int"),
        (b'{"data": {"id": "te-1", "version": 1, "note": "a\\u0000b"}}', "NUL"),
        (b'{"data": {"id": "te-1", "version": 1, "note": "a\\ud800b"}}', "surrogate"),
        (b'{"data": {"id": "te-1", "version": 1, "\\udc00": 1}}', "surrogate"),
        (nested(100_000), "nested too deeply"),
        (nested(40), "nested deeper than 32 levels"),
        (event({"id": "t" * 10_240, "version": 1}), "'id' must be text of 1 to 128"),
        (event({"id": "", "version": 1}), "'id' must be text of 1 to 128"),
        (event({"id": "te-1", "version": 1}, {"type": 7}), "subject's 'type' must be text"),
        (event({"id": "te-1", "version": 1}, {"type": "t" * 65}), "subject's 'type' must be"),
        (event({"id": "te-1", "version": 1}, {"type": ["time_entry"]}), "'type' must be text"),
        (b'{"subject": "time_entry", "data": {"id": "te-1", "version": 1}}', "'subject' must"),
        (b'{"data": {"id": "te-1", "version": 1, "rate": NaN}}', "NaN is not a JSON number"),
        (b'{"data": {"id": "te-1", "version": 1, "n": ' + b"9" * 5000 + b"}}", "not JSON"),
        (b'{"data": {"id": "te-1", "version": 1, "n": "\xff"}}', "not JSON"),
        (event({"id": "te-1", "version": 1, "x": "y" * MAX_RECORD_BYTES}), "bytes as JSON, over"),
    ],
    ids=[
        "version-beyond-64-bits", "version-negative", "integer-beyond-64-bits",
        "nested-integer-below-64-bits", "nul", "lone-surrogate", "lone-surrogate-key",
        "nested-past-the-parser", "nested-past-the-limit", "id-10-kb", "id-empty",
        "subject-type-a-number", "subject-type-long",
        "subject-type-a-list", "subject-not-an-object", "nan", "integer-of-5000-digits",
        "not-utf-8", "record-over-256-kib",
    ],
)  # fmt: skip
def test_a_signed_body_of_an_unexpected_shape_is_malformed_with_what_is_wrong(
    body: bytes, why: str
) -> None:
    with pytest.raises(WebhookRejected) as refused:
        read_webhook_event(body)

    assert refused.value.reason == "malformed"
    assert why in str(refused.value)


def test_an_event_without_a_subject_type_has_none() -> None:
    for body in (b'{"data": {"id": "te-1", "version": 1}}',
                 b'{"subject": {"id": "x"}, "data": {"id": "te-1", "version": 1}}'):  # fmt: skip
        assert read_webhook_event(body).subject_type == ""


def test_text_with_escapes_that_can_be_stored_is_read() -> None:
    body = b'{"data": {"id": "te-1", "version": 1, "note": "\\ud83d\\ude00 \\u00e9\\t"}}'

    assert read_webhook_event(body) == WebhookEvent(
        "", {"id": "te-1", "version": 1, "note": "\U0001f600 \xe9\t"}
    )


def test_a_record_at_the_limits_is_landable() -> None:
    record = {"id": "t" * 128, "version": 2**63 - 1, "n": -(2**63), "deep": nested_value(31)}
    check_record(record)
    # Measured as compact JSON in UTF-8: 'é' takes two bytes.
    filler = MAX_RECORD_BYTES - len(b'{"id":"te-1","version":1,"x":""}')
    check_record({"id": "te-1", "version": 1, "x": "y" * filler})
    check_record({"id": "te-1", "version": 1, "x": "é" * (filler // 2)})
    with pytest.raises(RecordRefused, match=f"it takes {MAX_RECORD_BYTES + 1} bytes as JSON"):
        check_record({"id": "te-1", "version": 1, "x": "y" * (filler + 1)})
    with pytest.raises(RecordRefused, match="over 262144"):
        check_record({"id": "te-1", "version": 1, "x": "é" * (filler // 2 + 1)})


def nested_value(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ([1, 2], "must be an object"),
        ({"id": 7.5, "version": 1}, "'id' must be text"),
        ({"id": True, "version": 1}, "'id' must be text"),
        ({"id": "te-1", "version": True}, "'version' must be an integer"),
        ({"id": "te-1", "version": 1, "at": object()}, "is a object, not JSON"),
        ({"id": "te-1", "version": 1, "x": float("inf")}, "not a finite number"),
        ({"id": "te-1", "version": 1, 3: "x"}, "a key that is not text"),
    ],
)
def test_check_record_refuses_what_jsonb_or_a_64_bit_reader_cannot_take(
    record: Any, why: str
) -> None:
    with pytest.raises(RecordRefused, match=why):
        check_record(record)
