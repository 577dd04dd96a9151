"""Property: whatever bytes arrive, decode() returns a valid envelope or raises DecodeError.

Four sources of input, from blind to surgical: arbitrary bytes, arbitrary JSON, sample
envelopes with one field mutated, and sample envelopes with their bytes damaged.
"""

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem_contracts import CATALOGUE, DecodeError, Envelope, decode, encode
from tandem_contracts.samples import sample_envelopes

SAMPLES = [json.loads(encode(e)) for e in sample_envelopes()]
EVENT_TYPES = [m.event_type for m in CATALOGUE]


def examples(n: int) -> settings:
    """A noisy shared machine: no per-example deadline; a fixed number of examples."""
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["2026-11-02T09:30:00", "2026-11-02T09:30:00Z", "750.00", "EUR", "NaN"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def decodes_or_raises_typed(body: bytes) -> None:
    """The property itself: a valid, stable envelope or a DecodeError; nothing else escapes."""
    try:
        envelope = decode(body)
    except DecodeError as error:
        failure: DecodeError | None = error
    else:
        failure = None
    if failure is not None:
        assert failure.reason
        assert str(failure)
        return
    assert isinstance(envelope, Envelope)
    assert CATALOGUE.current(envelope.event_type) is type(envelope.payload)
    assert decode(encode(envelope)) == envelope


@examples(1000)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(body: bytes) -> None:
    decodes_or_raises_typed(body)


@examples(1000)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    decodes_or_raises_typed(json.dumps(value).encode())


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> bytes:
    data = json.loads(json.dumps(draw(st.sampled_from(SAMPLES))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(paths(data)))
        parent = data
        for part in where[:-1]:
            parent = parent[part]
        leaf = where[-1]
        action = draw(st.sampled_from(["delete", "replace", "float", "naive", "extra", "type"]))
        if action == "delete":
            del parent[leaf]
        elif action == "replace":
            parent[leaf] = draw(json_values)
        elif action == "float":
            parent[leaf] = draw(st.floats(allow_nan=False, allow_infinity=False))
        elif action == "naive":
            parent[leaf] = "2026-11-02T09:30:00"
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        elif action == "type":
            data["event_type"] = draw(st.sampled_from([*EVENT_TYPES, "Nope", ""]))
            data["schema_version"] = draw(st.integers(min_value=-1, max_value=3))
        if not paths(data):
            break
    return json.dumps(data).encode()


@examples(3000)
@given(mutated_envelopes())
def test_mutated_envelopes(body: bytes) -> None:
    decodes_or_raises_typed(body)


@examples(1000)
@given(
    st.sampled_from([encode(e) for e in sample_envelopes()]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
    st.integers(min_value=0),
)
def test_damaged_bytes(body: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    damaged = bytearray(body[: len(body) - cut % 8])
    for index, value in flips:
        if damaged:
            damaged[index % len(damaged)] = value
    decodes_or_raises_typed(bytes(damaged))


def test_deeply_nested_json_is_a_typed_error() -> None:
    decodes_or_raises_typed(b"[" * 100_000)
    decodes_or_raises_typed(b'{"payload":' * 5_000 + b"1" + b"}" * 5_000)


def test_every_sample_satisfies_the_property_unmutated() -> None:
    for envelope in sample_envelopes():
        assert decode(encode(envelope)) == envelope
