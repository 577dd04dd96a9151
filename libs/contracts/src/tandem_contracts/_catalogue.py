"""The event registry: (event type, schema version) → model, and how old versions upcast.

A ``Catalogue`` holds every version of every event that may still be on the wire. Each
version after the first is registered with an upcaster from the version before it, so a
consumer built against the current model can read any older message: ``decode`` validates
against the version the message names, then upcasts step by step to the current one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tandem_contracts._envelope import Envelope
from tandem_contracts._event import Event
from tandem_contracts.errors import RegistryError, UnknownEventTypeError, UnknownSchemaVersionError

__all__ = ["Catalogue", "Upcaster"]

Upcaster = Callable[[Any], Event]
"""Turns a payload of version N-1 into the payload of version N."""


@dataclass(frozen=True, slots=True)
class _Entry:
    model: type[Event]
    envelope: type[Envelope[Any]]
    upcast: Upcaster | None


class Catalogue:
    """A registry of event models by type and version."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[int, _Entry]] = {}

    def register(self, model: type[Event], *, upcast: Upcaster | None = None) -> None:
        """Add ``model`` at its ``schema_version``; versions after 1 need an ``upcast`` from the
        previous version, which must already be registered.
        """
        name, version = model.event_type, model.schema_version
        versions = self._entries.setdefault(name, {})
        if version in versions:
            raise RegistryError(f"{name} v{version} is already registered")
        if version > 1 and (version - 1 not in versions or upcast is None):
            raise RegistryError(f"{name} v{version} needs v{version - 1} and an upcaster from it")
        if version == 1 and upcast is not None:
            raise RegistryError(f"{name} v1 has nothing to upcast from")
        if versions and version != max(versions) + 1:
            raise RegistryError(f"{name} v{version} must follow v{max(versions)}")
        versions[version] = _Entry(model, Envelope[model], upcast)  # type: ignore[valid-type]

    def model(self, event_type: str, version: int) -> type[Event]:
        """Return the model of ``event_type`` at ``version``; raise if either is unknown."""
        return self._entry(event_type, version).model

    def envelope_model(self, event_type: str, version: int) -> type[Envelope[Any]]:
        """Return the envelope class parametrised with that version's payload model."""
        return self._entry(event_type, version).envelope

    def current(self, event_type: str) -> type[Event]:
        """Return the newest model of ``event_type``."""
        versions = self._versions(event_type)
        return versions[max(versions)].model

    def upcast(self, envelope: Envelope[Any]) -> Envelope[Any]:
        """Return ``envelope`` with its payload upcast to the current version of its type."""
        versions = self._versions(envelope.event_type)
        payload: Event = envelope.payload
        version = envelope.schema_version
        while version < max(versions):
            version += 1
            step = versions[version].upcast
            assert step is not None  # noqa: S101 - guaranteed by register()
            payload = step(payload)
        if version == envelope.schema_version:
            return envelope
        fields = envelope.model_dump(exclude={"payload", "schema_version"})
        return versions[version].envelope(payload=payload, schema_version=version, **fields)

    def __iter__(self) -> Iterator[type[Event]]:
        """Iterate over every registered model, every version, in registration order."""
        for versions in self._entries.values():
            for entry in versions.values():
                yield entry.model

    def current_models(self) -> list[type[Event]]:
        """Return the newest model of each event type, in registration order."""
        return [self.current(name) for name in self._entries]

    def _versions(self, event_type: str) -> dict[int, _Entry]:
        try:
            return self._entries[event_type]
        except KeyError:
            raise UnknownEventTypeError(event_type) from None

    def _entry(self, event_type: str, version: int) -> _Entry:
        versions = self._versions(event_type)
        try:
            return versions[version]
        except KeyError:
            raise UnknownSchemaVersionError(event_type, version, tuple(versions)) from None
