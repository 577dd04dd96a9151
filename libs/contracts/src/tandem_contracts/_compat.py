"""Schema governance: what counts as an incompatible change to a published event version.

A published (event type, version) is a promise. Changing its schema is allowed only if every
message valid before stays valid and means the same: a field may be added if optional, an
enum may gain values. Removing or retyping a field, adding a required field and removing an
enum value break that promise and need a new schema version (plus an upcaster).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem_contracts._catalogue import Catalogue
from tandem_contracts._schema import event_json_schema, schema_filename
from tandem_contracts.errors import UnknownEventTypeError, UnknownSchemaVersionError

__all__ = ["Incompatibility", "check_catalogue", "schema_incompatibilities"]

_MAX_DEPTH = 40


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One breaking difference between a published schema and the current one."""

    schema: str
    path: str
    kind: str  # field_removed | field_retyped | field_now_required | enum_value_removed | ...
    detail: str

    def __str__(self) -> str:
        return f"{self.schema} at {self.path or '<root>'}: {self.kind} ({self.detail})"


def schema_incompatibilities(
    old: dict[str, Any], new: dict[str, Any], *, name: str = "schema"
) -> list[Incompatibility]:
    """Return every breaking change from ``old`` to ``new``, JSON Schemas as pydantic emits."""
    walker = _Walker(old, new, name)
    walker.compare(old, new, "", 0)
    return walker.found


def check_catalogue(directory: Path, catalogue: Catalogue) -> list[Incompatibility]:
    """Compare every committed ``<Type>.v<N>.json`` in ``directory`` with the catalogue's model.

    A committed version the catalogue no longer registers is itself an incompatibility.
    """
    found: list[Incompatibility] = []
    for path in sorted(directory.glob("*.v*.json")):
        event_type, _, version = path.stem.rpartition(".v")
        try:
            model = catalogue.model(event_type, int(version))
        except (UnknownEventTypeError, UnknownSchemaVersionError):
            found.append(Incompatibility(path.name, "", "version_removed", "no longer registered"))
            continue
        committed = json.loads(path.read_text())
        found += schema_incompatibilities(
            committed, event_json_schema(model), name=schema_filename(model)
        )
    return found


class _Walker:
    def __init__(self, old_root: dict[str, Any], new_root: dict[str, Any], name: str) -> None:
        self.roots = (old_root, new_root)
        self.name = name
        self.found: list[Incompatibility] = []

    def report(self, path: str, kind: str, detail: str) -> None:
        self.found.append(Incompatibility(self.name, path, kind, detail))

    def compare(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        old_branches = list(self._branches(old, self.roots[0]))
        new_branches = list(self._branches(new, self.roots[1]))
        old_types = {_type_of(b) for b in old_branches}
        new_types = {_type_of(b) for b in new_branches}
        lost = {t for t in old_types if not _accepts(new_types, t)}
        if lost:
            self.report(path, "field_retyped", f"{sorted(old_types)} -> {sorted(new_types)}")
            return
        old_enum, new_enum = _enum_values(old_branches), _enum_values(new_branches)
        if old_enum is not None and new_enum is not None and not old_enum <= new_enum:
            self.report(
                path, "enum_value_removed", ", ".join(sorted(map(str, old_enum - new_enum)))
            )
        for kind in old_types & new_types:
            old_b = next(b for b in old_branches if _type_of(b) == kind)
            new_b = next(b for b in new_branches if _type_of(b) == kind)
            if kind == "object":
                self._compare_object(old_b, new_b, path, depth)
            elif kind == "array" and "items" in old_b and "items" in new_b:
                self.compare(old_b["items"], new_b["items"], f"{path}[]", depth + 1)

    def _compare_object(
        self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int
    ) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for field, old_schema in old_props.items():
            where = f"{path}.{field}" if path else field
            if field not in new_props:
                self.report(where, "field_removed", "present in the published version")
            else:
                self.compare(old_schema, new_props[field], where, depth + 1)
        for field in sorted(new_required - old_required):
            where = f"{path}.{field}" if path else field
            kind = "field_now_required" if field in old_props else "required_field_added"
            self.report(where, kind, "old messages may lack it")

    def _branches(self, schema: dict[str, Any], root: dict[str, Any]) -> Iterator[dict[str, Any]]:
        schema = _resolve(schema, root)
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if alternatives:
            for alternative in alternatives:
                yield from self._branches(alternative, root)
        else:
            yield schema


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < _MAX_DEPTH:
        ref: str = schema["$ref"]
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    if "allOf" in schema and len(schema["allOf"]) == 1:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        schema = {**_resolve(schema["allOf"][0], root), **rest}
    return schema


def _type_of(schema: dict[str, Any]) -> str:
    if "const" in schema and "type" not in schema:
        return type(schema["const"]).__name__
    kind = schema.get("type")
    if kind is None:
        return "object" if "properties" in schema else "any"
    return str(kind)


def _accepts(new_types: set[str], old_type: str) -> bool:
    # Widening integer -> number keeps every old message valid; the reverse does not.
    return (
        "any" in new_types
        or old_type in new_types
        or (old_type == "integer" and "number" in new_types)
    )


def _enum_values(branches: list[dict[str, Any]]) -> set[Any] | None:
    values: set[Any] = set()
    for branch in branches:
        if "enum" in branch:
            values.update(branch["enum"])
        elif "const" in branch:
            values.add(branch["const"])
        elif branch.get("type") != "null":
            return None  # an open branch accepts any value: nothing to lose
    return values
