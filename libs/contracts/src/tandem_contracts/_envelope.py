"""The envelope every message on the broker carries: who, when, why, about what, and the payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Self, TypeVar

from pydantic import Field, field_validator, model_validator

from tandem_contracts._event import Event
from tandem_contracts._refs import ExternalRef, SystemKind
from tandem_contracts._types import (
    CanonicalId,
    CanonicalModel,
    Region,
    Slug,
    SubjectKey,
    UtcDatetime,
    Version,
    uuid7,
)

__all__ = ["Envelope", "Producer", "Subject", "routing_key"]

P = TypeVar("P", bound=Event)


class Producer(CanonicalModel):
    """Who published: the Tandem service, on behalf of which system of record and instance."""

    service: Slug
    system: SystemKind | None = None
    instance: str | None = Field(default=None, min_length=1, max_length=120)


class Subject(CanonicalModel):
    """The entity an event is about; its ``id`` is the partition key for ordering."""

    type: Slug
    id: SubjectKey
    refs: tuple[ExternalRef, ...] = ()


class Envelope(CanonicalModel, Generic[P]):
    """A frozen, typed event with its metadata. Build one with ``Envelope.new`` or ``caused``.

    Trace context is not here: it travels in message headers. Nothing confidential belongs in
    the metadata, which feeds routing keys, logs and traces.
    """

    event_id: uuid.UUID
    event_type: str = Field(min_length=1, max_length=100)
    schema_version: Version
    occurred_at: UtcDatetime
    producer: Producer
    tenant_id: Slug
    legal_entity_id: CanonicalId
    data_residency_region: Region
    correlation_id: CanonicalId
    causation_id: CanonicalId | None = None
    idempotency_key: str = Field(min_length=1, max_length=255)
    subject: Subject
    subject_version: Version
    payload: P

    @field_validator("event_id")
    @classmethod
    def _check_uuid7(cls, value: uuid.UUID) -> uuid.UUID:
        if value.version != 7:
            raise ValueError("event_id must be a UUIDv7")
        return value

    @model_validator(mode="after")
    def _check_payload_matches(self) -> Self:
        kind = type(self.payload)
        if (self.event_type, self.schema_version) != (kind.event_type, kind.schema_version):
            raise ValueError(
                f"envelope says {self.event_type} v{self.schema_version} "
                f"but the payload is {kind.event_type} v{kind.schema_version}"
            )
        if self.subject.type != kind.subject_type or self.subject.id != self.payload.subject_id:
            raise ValueError(
                f"subject {self.subject.type}:{self.subject.id} is not the payload's "
                f"{kind.subject_type}:{self.payload.subject_id}"
            )
        return self

    @classmethod
    def new(
        cls,
        payload: P,
        *,
        producer: Producer,
        tenant_id: str,
        legal_entity_id: str,
        data_residency_region: str,
        correlation_id: str,
        subject_version: int,
        causation_id: str | None = None,
        idempotency_key: str | None = None,
        subject_refs: tuple[ExternalRef, ...] = (),
        occurred_at: datetime | None = None,
    ) -> Envelope[P]:
        """Wrap ``payload`` in a new envelope; type, version and subject come from the payload.

        The idempotency key defaults to ``{event_type}:{subject_id}:{subject_version}``.
        """
        kind = type(payload)
        subject = Subject(type=kind.subject_type, id=payload.subject_id, refs=subject_refs)
        return Envelope[kind](  # type: ignore[valid-type]
            event_id=uuid7(),
            event_type=kind.event_type,
            schema_version=kind.schema_version,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            tenant_id=tenant_id,
            legal_entity_id=legal_entity_id,
            data_residency_region=data_residency_region,
            correlation_id=correlation_id,
            causation_id=causation_id,
            idempotency_key=idempotency_key
            or f"{kind.event_type}:{payload.subject_id}:{subject_version}",
            subject=subject,
            subject_version=subject_version,
            payload=payload,
        )

    def caused(
        self,
        payload: Event,
        *,
        producer: Producer,
        subject_version: int,
        idempotency_key: str | None = None,
        subject_refs: tuple[ExternalRef, ...] = (),
        occurred_at: datetime | None = None,
    ) -> Envelope[Any]:
        """Return the envelope of an event this one caused: same tenant, entity, region and
        correlation id, with this event as its cause.
        """
        return Envelope.new(
            payload,
            producer=producer,
            tenant_id=self.tenant_id,
            legal_entity_id=self.legal_entity_id,
            data_residency_region=self.data_residency_region,
            correlation_id=self.correlation_id,
            causation_id=str(self.event_id),
            subject_version=subject_version,
            idempotency_key=idempotency_key,
            subject_refs=subject_refs,
            occurred_at=occurred_at,
        )

    @property
    def routing_key(self) -> str:
        """The routing key this envelope is published under (see ``routing_key``)."""
        return routing_key(self)


def routing_key(envelope: Envelope[Any]) -> str:
    """Return ``{context}.{EventType}.v{version}.{region}.{legal_entity_id}``.

    Region comes before the legal entity so that a residency rule binds with one pattern
    (``*.*.*.eu.#``) and an entity rule with another (``#.{legal_entity_id}``). Ids only: no
    names or other personal data ever reach a routing key.
    """
    kind = type(envelope.payload)
    return (
        f"{kind.context}.{kind.event_type}.v{kind.schema_version}."
        f"{envelope.data_residency_region}.{envelope.legal_entity_id}"
    )
