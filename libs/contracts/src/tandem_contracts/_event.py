"""The base of every catalogue event, and the routing contexts events are published under."""

from __future__ import annotations

from abc import abstractmethod
from enum import StrEnum
from typing import ClassVar

from tandem_contracts._refs import SystemKind
from tandem_contracts._types import CanonicalModel

__all__ = ["Context", "Event"]


class Context(StrEnum):
    """The bounded context an event belongs to: the first word of its routing key."""

    CRM = "crm"
    PROJECT = "project"
    HR = "hr"
    STAFFING = "staffing"
    TIME = "time"
    BILLING = "billing"
    OPS = "ops"


class Event(CanonicalModel):
    """A past-tense fact, the typed payload of an envelope.

    Each subclass declares what it is with class variables: its ``event_type`` and
    ``schema_version`` (the pair the catalogue registers), its routing ``context``, the
    ``system_of_record`` whose state change it reports (None for facts derived by the suite),
    the ``producers`` that may publish it, and the ``subject_type`` it is about. It names its
    subject's canonical id through ``subject_id``.
    """

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    context: ClassVar[Context]
    system_of_record: ClassVar[SystemKind | None]
    producers: ClassVar[tuple[str, ...]]
    subject_type: ClassVar[str]

    @property
    @abstractmethod
    def subject_id(self) -> str:
        """The canonical id of the entity this event is about (its partition key)."""
