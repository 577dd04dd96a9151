"""What a landed record may be: JSON that PostgreSQL's jsonb and a 64-bit reader can take.

``check_record`` refuses (``RecordRefused``, saying where and what) a record over 256 KiB as
JSON, nested deeper than 32 levels, with a NUL or a lone surrogate in any text, an integer
beyond 64 bits or a number that is not finite anywhere, or an ``id`` or ``version`` that cannot
key it. The record is walked without recursion, so a deeply nested one cannot exhaust the stack.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from tandem_contracts import unsafe_text

__all__ = [
    "MAX_RECORD_BYTES",
    "MAX_RECORD_DEPTH",
    "MAX_RECORD_ID",
    "RecordRefused",
    "check_record",
    "refused_key",
    "serialized",
]

MAX_RECORD_BYTES = 256 * 1024
"""The most a landed record may take as compact JSON in UTF-8."""
MAX_RECORD_ID = 128
MAX_RECORD_DEPTH = 32
_INT64 = 2**63


class RecordRefused(ValueError):
    """The record cannot be landed as it is; the message says why."""


def check_record(record: Mapping[str, Any]) -> None:
    """Raise ``RecordRefused`` unless the record can be landed (see the module docstring)."""
    serialized(record)


def serialized(record: Mapping[str, Any]) -> str:
    """The record as the JSON text to store; ``RecordRefused`` if it cannot be landed."""
    if not isinstance(record, Mapping):
        raise RecordRefused(f"a record must be an object, not {type(record).__name__}")
    if (problem := _id_problem(record.get("id"))) is not None:
        raise RecordRefused(problem)
    version = record.get("version")
    if type(version) is not int or not 0 <= version < _INT64:
        raise RecordRefused("its 'version' must be an integer from 0 to 2**63 - 1")
    _check_values(record)
    payload = json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if (size := len(payload.encode())) > MAX_RECORD_BYTES:
        raise RecordRefused(f"it takes {size} bytes as JSON, over {MAX_RECORD_BYTES}")
    return payload


def _id_problem(value: object) -> str | None:
    if type(value) is int and -_INT64 <= value < _INT64:
        return None
    text = value if isinstance(value, str) else None
    if text is None or not 0 < len(text) <= MAX_RECORD_ID or unsafe_text(text) is not None:
        return f"its 'id' must be text of 1 to {MAX_RECORD_ID} characters, or an integer"
    return None


_Path = tuple[str | int, ...]  # keys and indexes from the record down; rendered on refusal


def _check_values(record: Mapping[str, Any]) -> None:
    """Refuse what PostgreSQL's jsonb or a 64-bit reader cannot take, walking without recursion."""
    stack: list[tuple[object, _Path]] = [(record, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if (why := unsafe_text(value)) is not None:
                raise RecordRefused(f"{_where(path)} holds a {why}")
        elif value is None or isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                raise RecordRefused(f"{_where(path)} is an integer beyond 64 bits")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise RecordRefused(f"{_where(path)} is not a finite number")
        elif isinstance(value, Mapping | list | tuple):
            if len(path) >= MAX_RECORD_DEPTH:
                raise RecordRefused(f"it is nested deeper than {MAX_RECORD_DEPTH} levels")
            stack.extend(_children(value, path))
        else:
            raise RecordRefused(f"{_where(path)} is a {type(value).__name__}, not JSON")


def _children(
    value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], path: _Path
) -> list[tuple[object, _Path]]:
    if not isinstance(value, Mapping):
        return [(item, (*path, i)) for i, item in enumerate(value)]
    children: list[tuple[object, _Path]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise RecordRefused(f"{_where(path)} has a key that is not text")
        if (why := unsafe_text(key)) is not None:
            raise RecordRefused(f"a key of {_where(path)} holds a {why}")
        children.append((item, (*path, key)))
    return children


def _where(path: _Path) -> str:
    """The path as ``$.a.b[2]``, each key cut to 40 characters."""
    parts = (f"[{p}]" if isinstance(p, int) else "." + (p if len(p) <= 40 else p[:39] + "…")
             for p in path)  # fmt: skip
    return "$" + "".join(parts)


def refused_key(record: object) -> tuple[str, int]:
    """The id and version a refused record is kept under: its own when usable, else a digest
    of its id (so that the same record refused again is kept once) and version 0."""
    fields = record if isinstance(record, Mapping) else {}
    raw, version = fields.get("id"), fields.get("version")
    if _id_problem(raw) is None:
        record_id = str(raw)
    elif isinstance(raw, str | int) and not isinstance(raw, bool):
        # hex(): str() of an integer of over 4300 digits raises.
        text = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else hex(raw).encode()
        record_id = "sha256:" + hashlib.sha256(text).hexdigest()[:32]
    else:
        record_id = "(no usable id)"
    if type(version) is int and 0 <= version < _INT64:
        return record_id, version
    return record_id, 0
