"""JSON in and out of ``jsonb`` columns (asyncpg hands them over as text)."""

from __future__ import annotations

import json
from typing import Any


def dumped(value: Any) -> str | None:
    """``value`` as JSON text, or ``None`` (SQL null) for ``None``."""
    return None if value is None else json.dumps(value)


def loaded(value: Any) -> Any:
    """A ``jsonb`` column's value, parsed when it arrives as text."""
    return json.loads(value) if isinstance(value, str) else value
