"""Tryton's JSON-RPC encoding of values JSON lacks: Decimal, date, datetime, time, timedelta,
bytes travel as ``{"__class__": ..., ...}`` objects.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

__all__ = ["from_wire", "to_wire"]


def to_wire(value: Any) -> Any:
    """Encode a Python value for a Tryton JSON-RPC request."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": format(value, "f")}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            **{k: getattr(value, k) for k in ("year", "month", "day", "hour", "minute", "second")},
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dt.time):
        return {
            "__class__": "time",
            **{k: getattr(value, k) for k in ("hour", "minute", "second", "microsecond")},
        }
    if isinstance(value, dt.timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    return value


def from_wire(value: Any) -> Any:
    """Decode a value of a Tryton JSON-RPC response."""
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__class__")
    if kind == "Decimal":
        return Decimal(value["decimal"])
    if kind == "date":
        return dt.date(value["year"], value["month"], value["day"])
    if kind == "datetime":
        fields = ("year", "month", "day", "hour", "minute", "second", "microsecond")
        return dt.datetime(*(value.get(f, 0) for f in fields))
    if kind == "time":
        return dt.time(*(value.get(f, 0) for f in ("hour", "minute", "second", "microsecond")))
    if kind == "timedelta":
        return dt.timedelta(seconds=value["seconds"])
    if kind == "bytes":
        return base64.b64decode(value["base64"])
    return {key: from_wire(item) for key, item in value.items()}
