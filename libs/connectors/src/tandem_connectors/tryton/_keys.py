"""Idempotency keys stored with the record they made, in one writable, searchable field.

Tryton has no idempotency header, and a crash can fall between Tryton committing a create and
the caller recording the cross-reference; so every write stores its key in the record it
creates, in the same ``create`` call, and every write first looks its keys up (one search per
batch). The field per model:

==========================  ==============================  ==================================
Tryton model                field holding the key            why this field
==========================  ==============================  ==================================
``company.company``         its party's ``code``             unique, writable at create
``party.party`` (customer)  ``code``                         unique, writable at create
``company.employee``        its party's ``code``             employees have no free field
``product.template``        ``code``                         searchable, writable
``project.work``            ``comment``                      the only free field of a work
``timesheet.line``          ``description``                  ``uuid`` is readonly over RPC
``account.invoice``         ``reference``                    the document's external reference
==========================  ==============================  ==================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem_connectors.tryton._client import TrytonClient

__all__ = ["KEY_FIELDS", "find_keys"]

KEY_FIELDS = {
    "company.company": "party.code",
    "party.party": "code",
    "company.employee": "party.code",
    "product.template": "code",
    "project.work": "comment",
    "timesheet.line": "description",
    "account.invoice": "reference",
}


async def find_keys(
    client: TrytonClient, model: str, keys: Sequence[str], *, domain: list[Any] | None = None
) -> dict[str, int]:
    """Map each of ``keys`` already written to ``model`` to its record id (one search)."""
    if not keys:
        return {}
    field = KEY_FIELDS[model]
    rows = await client.search_read(
        model, [[field, "in", sorted(set(keys))], *(domain or [])], [field], order=[("id", "ASC")]
    )
    found: dict[str, int] = {}
    for row in rows:
        found.setdefault(_key_of(row, field), row["id"])
    return found


def _key_of(row: dict[str, Any], field: str) -> str:
    # Tryton answers a dotted field ``a.b`` as ``{"a.": {"b": ...}}``.
    head, _, tail = field.partition(".")
    if not tail:
        return str(row[head])
    return str(row[f"{head}."][tail])
