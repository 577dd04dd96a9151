"""Tandem's canonical contracts: what every service puts on the wire, and nothing else.

    from tandem_contracts import Envelope, Producer, decode, encode
    from tandem_contracts.events import TimeApproved
    from tandem_contracts.entities import TimeEntry

``Envelope.new(payload, ...)`` wraps an event; ``encode`` / ``decode`` turn envelopes into
bytes and back, and ``decode`` raises only ``DecodeError`` subclasses on bad input.
"""

from tandem_contracts._catalogue import Catalogue, Upcaster
from tandem_contracts._codec import CONTENT_TYPE, DEFAULT_MAX_BYTES, decode, encode, message_type
from tandem_contracts._compat import Incompatibility, check_catalogue, schema_incompatibilities
from tandem_contracts._envelope import Envelope, Producer, Subject, routing_key
from tandem_contracts._event import Context, Event
from tandem_contracts._money import CurrencyCode, Money, minor_unit
from tandem_contracts._refs import ExternalRef, SyncError, SyncStatus, SystemKind
from tandem_contracts._schema import (
    EVENTS_EXCHANGE,
    asyncapi_document,
    event_json_schema,
    schema_filename,
)
from tandem_contracts._text import unsafe_json, unsafe_text
from tandem_contracts._types import (
    CanonicalId,
    CanonicalModel,
    CountryCode,
    Minutes,
    Region,
    SignedMinutes,
    Slug,
    SubjectKey,
    UtcDatetime,
    new_id,
    uuid7,
)
from tandem_contracts.errors import (
    ContractError,
    DecodeError,
    EncodingError,
    FieldError,
    FloatMoneyError,
    NaiveDatetimeError,
    OversizedMessageError,
    RegistryError,
    SchemaValidationError,
    UnknownEventTypeError,
    UnknownSchemaVersionError,
)
from tandem_contracts.events import CATALOGUE

__version__ = "1.0.0"

__all__ = [
    "CATALOGUE",
    "CONTENT_TYPE",
    "DEFAULT_MAX_BYTES",
    "EVENTS_EXCHANGE",
    "CanonicalId",
    "CanonicalModel",
    "Catalogue",
    "Context",
    "ContractError",
    "CountryCode",
    "CurrencyCode",
    "DecodeError",
    "EncodingError",
    "Envelope",
    "Event",
    "ExternalRef",
    "FieldError",
    "FloatMoneyError",
    "Incompatibility",
    "Minutes",
    "Money",
    "NaiveDatetimeError",
    "OversizedMessageError",
    "Producer",
    "Region",
    "RegistryError",
    "SchemaValidationError",
    "SignedMinutes",
    "Slug",
    "Subject",
    "SubjectKey",
    "SyncError",
    "SyncStatus",
    "SystemKind",
    "UnknownEventTypeError",
    "UnknownSchemaVersionError",
    "Upcaster",
    "UtcDatetime",
    "asyncapi_document",
    "check_catalogue",
    "decode",
    "encode",
    "event_json_schema",
    "message_type",
    "minor_unit",
    "new_id",
    "routing_key",
    "schema_filename",
    "schema_incompatibilities",
    "unsafe_json",
    "unsafe_text",
    "uuid7",
]
