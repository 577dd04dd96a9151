"""An event on the bus, as one step of a business timeline: ids, codes and numbers only.

What a step keeps is chosen field by field (an allow-list), never copied wholesale: names,
notes, descriptions, free-text reasons and receipts never reach observability (DOMAIN.md §4.7).
A field is kept only if it is

- a business key (``*_id`` fields that name an entity: project, worker, timesheet, ...),
- a system id (an ``ExternalRef`` a system of record minted, or an invoice number),
- or a fact the KPIs need (``facts.py``: minutes, amounts, dates, enum codes).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, get_args

from pydantic import BaseModel

from tandem_contracts import Envelope, ExternalRef

__all__ = ["KEY_FIELDS", "Outcome", "Step", "SystemId", "step_of"]


class Outcome(StrEnum):
    """How a step went, as the console colours it."""

    OK = "ok"
    FAILED = "failed"
    HELD = "held"
    PARKED = "parked"
    MISMATCH = "mismatch"
    BREACH = "breach"


_OUTCOMES: dict[str, Outcome] = {
    "TimePostingFailed": Outcome.FAILED,
    "QuoteToCashStuck": Outcome.FAILED,
    "ProjectFlaggedForFinance": Outcome.FAILED,
    "ChargeHeld": Outcome.HELD,
    "MessageParked": Outcome.PARKED,
    "ReconciliationMismatch": Outcome.MISMATCH,
    "RevenueLeakageDetected": Outcome.BREACH,
    "UtilizationThresholdBreached": Outcome.BREACH,
}

KEY_FIELDS: dict[str, str] = {
    "opportunity_id": "opportunity",
    "project_id": "project",
    "project_ids": "project",
    "worker_id": "worker",
    "resource_id": "worker",
    "timesheet_id": "timesheet",
    "time_entry_id": "time_entry",
    "original_entry_id": "time_entry",
    "expense_id": "expense",
    "invoice_id": "invoice",
    "credited_invoice_id": "invoice",
    "charge_id": "charge",
    "charge_ids": "charge",
    "assignment_id": "assignment",
    "request_id": "request",
    "customer_id": "customer",
    "contract_id": "contract",
    "change_order_id": "change_order",
    "original_event_id": "event",
}
"""Payload fields (at any depth) that name a business entity, and the kind of key they are."""

_SUBJECT_KINDS: dict[str, str] = {
    "opportunity": "opportunity",
    "project": "project",
    "worker": "worker",
    "resource": "worker",
    "timesheet": "timesheet",
    "time_entry": "time_entry",
    "expense": "expense",
    "invoice": "invoice",
    "charge": "charge",
    "assignment": "assignment",
    "resource_request": "request",
    "customer": "customer",
    "contract": "contract",
    "milestone": "milestone",
    "parked_message": "parked",
}
"""Envelope subject types whose id is a business key (the subject of a ``TimeApproved`` is its
time entry, of a ``ProjectActivated`` its project...)."""

_ENTITY_KINDS: dict[str, str] = {
    "entry": "time_entry",
    "entries": "time_entry",
    "replacement": "time_entry",
    "timesheet": "timesheet",
    "expense": "expense",
    "project": "project",
    "opportunity": "opportunity",
    "worker": "worker",
    "assignment": "assignment",
    "request": "request",
    "charge": "charge",
    "invoice": "invoice",
    "credit_note": "invoice",
    "contract": "contract",
    "milestone": "milestone",
    "customer": "customer",
}
"""Payload fields holding an entity whose own ``id`` is a business key."""

_MAX_KEYS = 200  # a step names at most this many keys (a timesheet's entries, an invoice's charges)


@dataclass(frozen=True)
class SystemId:
    """An id a system of record minted for this step's entity."""

    system: str
    instance: str
    object: str
    id: str


@dataclass(frozen=True)
class Step:
    """One event as a timeline keeps it."""

    event_id: str
    event_type: str
    service: str
    system: str | None
    occurred_at: datetime
    outcome: Outcome
    reason: str | None
    """A code (an enum value) saying why a step failed or was held; never free text."""
    subject_type: str
    subject_id: str
    correlation_id: str
    causation_id: str | None
    region: str
    legal_entity_id: str | None
    trace_id: str | None
    keys: tuple[tuple[str, str], ...]
    """(kind, id) pairs, each once, the subject's first."""
    system_ids: tuple[SystemId, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


def step_of(
    envelope: Envelope[Any], trace_id: str | None, facts: dict[str, Any] | None = None
) -> Step:
    """The timeline step ``envelope`` is (``facts`` from ``facts.facts_of``)."""
    payload = envelope.payload
    kind = _SUBJECT_KINDS.get(envelope.subject.type)
    keys: dict[tuple[str, str], None] = {}
    if kind is not None:
        keys[(kind, str(envelope.subject.id))] = None
    for pair in (*_keys_in(payload), *_charged(payload)):
        if len(keys) >= _MAX_KEYS:
            break
        keys.setdefault(pair, None)
    refs = dict.fromkeys((*envelope.subject.refs, *_refs_in(payload)))
    system_ids = [_system_id(ref) for ref in refs]
    number = _invoice_number(payload)
    if number is not None:
        system_ids.append(number)
    return Step(
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        service=envelope.producer.service,
        system=str(envelope.producer.system) if envelope.producer.system else None,
        occurred_at=envelope.occurred_at,
        outcome=_OUTCOMES.get(envelope.event_type, Outcome.OK),
        reason=_reason_code(payload),
        subject_type=envelope.subject.type,
        subject_id=str(envelope.subject.id),
        correlation_id=str(envelope.correlation_id),
        causation_id=str(envelope.causation_id) if envelope.causation_id else None,
        region=str(envelope.data_residency_region),
        legal_entity_id=envelope.legal_entity_id,
        trace_id=trace_id,
        keys=tuple(keys),
        system_ids=tuple(dict.fromkeys(system_ids))[:_MAX_KEYS],
        facts=facts or {},
    )


@dataclass(frozen=True)
class _Field:
    """A payload field that can name a key or hold a model (an entity, an external ref)."""

    name: str
    key_kind: str | None
    entity_kind: str | None


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


@functools.cache
def _fields(model: type[BaseModel]) -> tuple[_Field, ...]:
    """The fields of ``model`` worth reading, worked out once per class: reading every field
    of every event was a quarter of the consumer's time."""
    return tuple(
        _Field(name, KEY_FIELDS.get(name), _ENTITY_KINDS.get(name))
        for name, info in model.model_fields.items()
        if name in KEY_FIELDS or _holds_models(info.annotation)
    )


def _keys_in(model: BaseModel) -> Iterator[tuple[str, str]]:
    for f in _fields(type(model)):
        value = getattr(model, f.name)
        if f.key_kind is not None:
            yield from ((f.key_kind, item) for item in _ids(value))
            continue
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, BaseModel) and not isinstance(item, ExternalRef):
                entity_id = getattr(item, "id", None)
                if f.entity_kind is not None and isinstance(entity_id, str):
                    yield (f.entity_kind, entity_id)
                yield from _keys_in(item)


_SOURCE_KINDS = {"time": "time_entry", "expense": "expense", "milestone": "milestone"}


def _charged(payload: BaseModel) -> Iterator[tuple[str, str]]:
    """What a charge bills (its time entries, expenses, milestone): the link from the work
    to the invoice."""
    charge = getattr(payload, "charge", None)
    kind = _SOURCE_KINDS.get(str(getattr(charge, "source", "")))
    if kind is not None:
        yield from ((kind, source) for source in charge.source_ids)  # type: ignore[union-attr]


def _ids(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        yield from (item for item in value if isinstance(item, str))


def _refs_in(model: BaseModel) -> Iterator[ExternalRef]:
    for f in _fields(type(model)):
        if f.key_kind is not None:
            continue
        value = getattr(model, f.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, ExternalRef):
                yield item
            elif isinstance(item, BaseModel):
                yield from _refs_in(item)


def _system_id(ref: ExternalRef) -> SystemId:
    return SystemId(str(ref.system), ref.instance, ref.object_type, ref.external_id)


def _invoice_number(payload: BaseModel) -> SystemId | None:
    invoice = getattr(payload, "invoice", None) or getattr(payload, "credit_note", None)
    number = getattr(invoice, "number", None)
    if not isinstance(number, str):
        return None
    return SystemId("erp", "*", "invoice_number", number)


def _reason_code(payload: BaseModel) -> str | None:
    """The coded reason of a failure or hold: enum values only (free text is never kept)."""
    reason = getattr(payload, "reason", None)
    if isinstance(reason, StrEnum):
        return reason.value
    reasons = getattr(payload, "reasons", None)
    if isinstance(reasons, tuple) and reasons and all(isinstance(r, StrEnum) for r in reasons):
        return ",".join(r.value for r in reasons)
    kind = getattr(payload, "kind", None)
    if isinstance(kind, StrEnum):
        return kind.value
    # The runtime's parking reasons and the saga's step names are codes, not prose.
    name = type(payload).__name__
    if name == "MessageParked" and isinstance(reason, str):
        return reason
    step = getattr(payload, "step", None)
    if name == "QuoteToCashStuck" and isinstance(step, str):
        return step
    return None
