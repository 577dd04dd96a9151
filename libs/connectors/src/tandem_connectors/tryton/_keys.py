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

``find_record`` answers the record a write of one ``ErpObject`` kind made under a key. Parties
carry the keys of customers, employees and companies alike, so a customer is a keyed party
that is neither a company's nor an employee's. An employee's party has one employee per
company the worker books time in (``_intercompany``): the key answers the oldest, the one
its write made; a write in a company looks the key up there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem_connectors.errors import RequestRejected
from tandem_connectors.ports import ErpObject
from tandem_connectors.tryton._client import TrytonClient

__all__ = ["EVERY_RECORD", "KEY_FIELDS", "find_keys", "find_record", "not_a_customer"]

EVERY_RECORD = {"active_test": False}
"""The context of a search that also finds inactive records (archived, not yet or no longer
active)."""

KEY_FIELDS = {
    "company.company": "party.code",
    "party.party": "code",
    "company.employee": "party.code",
    "product.template": "code",
    "project.work": "comment",
    "timesheet.line": "description",
    "account.invoice": "reference",
}
# The model each findable kind is written to, and what tells it from other kinds there.
_FINDABLE: dict[ErpObject, tuple[str, list[Any]]] = {
    ErpObject.COMPANY: ("company.company", []),
    ErpObject.CUSTOMER: ("party.party", []),
    ErpObject.SERVICE: ("product.template", []),
    ErpObject.EMPLOYEE: ("company.employee", []),
    ErpObject.PROJECT: ("project.work", [["type", "=", "project"]]),
    ErpObject.TASK: ("project.work", [["type", "=", "task"]]),
}


async def find_keys(
    client: TrytonClient, model: str, keys: Sequence[str], *, domain: list[Any] | None = None
) -> dict[str, int]:
    """Map each of ``keys`` already written to ``model`` to its record id (one search)."""
    if not keys:
        return {}
    field = KEY_FIELDS[model]
    # Inactive records included: an employee is inactive before its start and after its end
    # (Tryton's ``active`` follows the dates), and a key once written is taken all the same.
    rows = await client.search_read(
        model, [[field, "in", sorted(set(keys))], *(domain or [])], [field],
        order=[("id", "ASC")], context=EVERY_RECORD,
    )  # fmt: skip
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


async def find_record(client: TrytonClient, kind: ErpObject, key: str) -> int | None:
    """The id of the record of ``kind`` written under ``key`` (the id its write answered)."""
    if kind not in _FINDABLE:
        raise RequestRejected("unsupported", f"Tryton cannot find a {kind} by its key")
    model, domain = _FINDABLE[kind]
    found = (await find_keys(client, model, [key], domain=domain)).get(key)
    if found is None:
        return None
    if kind is ErpObject.CUSTOMER and await not_a_customer(client, found):
        return None
    if kind is ErpObject.SERVICE:
        # The write answers the template's product variant, not the template.
        products = await client.search("product.product", [["template", "=", found]], limit=1)
        return products[0] if products else None
    return found


async def not_a_customer(client: TrytonClient, party: int) -> bool:
    """Whether the party is a company's or an employee's (parties serve all three)."""
    for model in ("company.company", "company.employee"):
        if await client.search(model, [["party", "=", party]], limit=1):
            return True
    return False
