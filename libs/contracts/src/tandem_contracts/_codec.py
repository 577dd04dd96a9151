"""Bytes ↔ envelopes. ``decode`` either returns a valid envelope or raises a ``DecodeError``."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tandem_contracts._catalogue import Catalogue
from tandem_contracts._envelope import Envelope
from tandem_contracts._text import unsafe_json
from tandem_contracts.errors import (
    DecodeError,
    EncodingError,
    FieldError,
    FloatMoneyError,
    NaiveDatetimeError,
    OversizedMessageError,
    SchemaValidationError,
    UnsafeTextError,
)
from tandem_contracts.events import CATALOGUE

__all__ = ["CONTENT_TYPE", "DEFAULT_MAX_BYTES", "decode", "encode", "message_type"]

CONTENT_TYPE = "application/json"
DEFAULT_MAX_BYTES = 1024 * 1024
_ENCODING_ERRORS = {"json_invalid", "json_type", "model_type", "model_attributes_type"}


class _Header(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    event_type: str
    schema_version: int


def encode(envelope: Envelope[Any]) -> bytes:
    """Serialise an envelope to UTF-8 JSON (money as decimal strings, datetimes in UTC)."""
    return envelope.model_dump_json().encode()


def message_type(envelope: Envelope[Any]) -> str:
    """Return the transport's type label of an envelope, e.g. ``TimeApproved.v1``."""
    return f"{envelope.event_type}.v{envelope.schema_version}"


def decode(
    body: bytes,
    catalogue: Catalogue = CATALOGUE,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    type_hint: str | None = None,
) -> Envelope[Any]:
    """Turn raw bytes into an envelope at the current version of its event type.

    ``type_hint`` (a ``message_type`` label from the transport's headers) lets a valid body
    be parsed once instead of twice; the body alone decides: a wrong hint changes nothing.
    Raises one of the ``DecodeError`` subclasses, and nothing else, for any bad input.
    """
    if len(body) > max_bytes:
        raise OversizedMessageError(len(body), max_bytes)
    if (unsafe := unsafe_json(body)) is not None:
        raise UnsafeTextError(f"body refused: {unsafe}")
    hinted = _hinted_model(catalogue, type_hint)
    if hinted is not None:
        try:
            return catalogue.upcast(_validated(hinted, body, None))
        except DecodeError:
            pass  # the full path below names the error precisely
    header = _validated(_Header, body, None)
    model = catalogue.envelope_model(header.event_type, header.schema_version)
    return catalogue.upcast(_validated(model, body, header.event_type))


_M = TypeVar("_M", bound=BaseModel)


def _validated(model: type[_M], body: bytes, event_type: str | None) -> _M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _translate(exc, event_type, body) from None
    except (ArithmeticError, RecursionError) as exc:
        # A validator tripped over an extreme value the field types did not bound.
        error = FieldError(path="", kind="unprocessable", message=repr(exc)[:200])
        raise SchemaValidationError(event_type, (error,)) from None


def _hinted_model(catalogue: Catalogue, type_hint: str | None) -> type[Envelope[Any]] | None:
    if not type_hint:
        return None
    event_type, _, version = type_hint.rpartition(".v")
    try:
        return catalogue.envelope_model(event_type, int(version))
    except (DecodeError, ValueError):
        return None


def _translate(exc: ValidationError, event_type: str | None, body: bytes) -> DecodeError:
    errors = tuple(
        FieldError(
            path=".".join(str(part) for part in err["loc"]),
            kind=err["type"],
            message=err["msg"],
        )
        for err in exc.errors(include_url=False, include_input=False)
    )
    kinds = {e.kind for e in errors}
    root = next((e for e in errors if e.kind in _ENCODING_ERRORS and not e.path), None)
    if root is not None:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            return EncodingError(f"body is not UTF-8: {bad.reason} at byte {bad.start}")
        return EncodingError(f"body is not a JSON object: {root.message}")
    if "float_money" in kinds:
        return FloatMoneyError(event_type, errors)
    if "timezone_aware" in kinds:
        return NaiveDatetimeError(event_type, errors)
    return SchemaValidationError(event_type, errors)
