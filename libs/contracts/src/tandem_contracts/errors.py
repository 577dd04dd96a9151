"""The contracts' exception tree.

Everything that can go wrong turning bytes into an envelope raises a ``DecodeError``
subclass, so a consumer needs exactly one ``except DecodeError`` to park bad input with a
reason. ``RegistryError`` covers mistakes in building a catalogue (a programming error,
never caused by input).

    ContractError
    ├── RegistryError
    └── DecodeError
        ├── OversizedMessageError
        ├── EncodingError
        │   └── UnsafeTextError
        ├── UnknownEventTypeError
        ├── UnknownSchemaVersionError
        └── SchemaValidationError
            ├── NaiveDatetimeError
            └── FloatMoneyError
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ContractError",
    "DecodeError",
    "EncodingError",
    "FieldError",
    "FloatMoneyError",
    "NaiveDatetimeError",
    "OversizedMessageError",
    "RegistryError",
    "SchemaValidationError",
    "UnknownEventTypeError",
    "UnknownSchemaVersionError",
    "UnsafeTextError",
]


class ContractError(Exception):
    """Base of every error raised by ``tandem_contracts``."""


class RegistryError(ContractError):
    """The event catalogue was assembled wrongly (duplicate or missing registration)."""


class DecodeError(ContractError):
    """Raw bytes could not be turned into a valid envelope; ``reason`` is a stable code."""

    reason: str = "decode_error"


class OversizedMessageError(DecodeError):
    """The body is larger than the configured limit."""

    reason = "oversized"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message body is {size} bytes, the limit is {limit}")
        self.size = size
        self.limit = limit


class EncodingError(DecodeError):
    """The body is not UTF-8 JSON holding an object."""

    reason = "bad_encoding"


class UnsafeTextError(EncodingError):
    """The body escapes text no store can hold: a NUL or an unpaired surrogate."""

    reason = "unsafe_text"


class UnknownEventTypeError(DecodeError):
    """The envelope names an event type the catalogue does not know."""

    reason = "unknown_event_type"

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type


class UnknownSchemaVersionError(DecodeError):
    """The event type is known but not at this schema version."""

    reason = "unknown_schema_version"

    def __init__(self, event_type: str, version: int, known: tuple[int, ...]) -> None:
        super().__init__(
            f"event type {event_type!r} has no schema version {version} (known: {list(known)})"
        )
        self.event_type = event_type
        self.version = version
        self.known = known


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: where it is (a dotted path), what kind of error, and why."""

    path: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message} [{self.kind}]"


class SchemaValidationError(DecodeError):
    """The envelope or its payload does not satisfy the schema; ``errors`` lists each field."""

    reason = "schema_invalid"

    def __init__(self, event_type: str | None, errors: tuple[FieldError, ...]) -> None:
        what = f"{event_type} envelope" if event_type else "envelope"
        detail = "; ".join(str(e) for e in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"invalid {what}: {detail}{more}")
        self.event_type = event_type
        self.errors = errors

    @property
    def paths(self) -> tuple[str, ...]:
        """The dotted path of every invalid field."""
        return tuple(e.path for e in self.errors)


class NaiveDatetimeError(SchemaValidationError):
    """A timestamp carries no UTC offset."""

    reason = "naive_datetime"


class FloatMoneyError(SchemaValidationError):
    """A money amount or another exact decimal (rate, quantity, percentage) arrived as a JSON
    float instead of a decimal string."""

    reason = "float_money"
