"""An event as a timeline step: its keys, system ids, outcome and facts, and nothing
confidential (DOMAIN.md §4.7: notes, receipts and names never reach observability)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from observability.adapters.projector import _ENTRY, _POSTED, _plan
from observability.domain.facts import facts_of
from observability.domain.steps import Outcome, step_of
from tandem_contracts import Envelope
from tandem_contracts.samples import sample_envelopes

SAMPLES = {envelope.event_type: envelope for envelope in sample_envelopes()}
# Fields whose text is prose or a person's: never kept. (Reasons that are enum codes are.)
_CONFIDENTIAL = {"name", "notes", "description", "detail", "message", "receipt_ref",
                 "approved_by", "released_by", "external_url"}  # fmt: skip
_PERIOD = re.compile(r"^\d{4}-\d{2}$")  # an accounting period's name is a code: 2026-10


def _step(event_type: str, trace_id: str | None = None) -> Any:
    envelope = SAMPLES[event_type]
    return step_of(envelope, trace_id, facts_of(envelope))


def _texts(model: BaseModel) -> list[str]:
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, BaseModel):
                found.extend(_texts(item))
            elif (name in _CONFIDENTIAL and isinstance(item, str) and len(item) >= 4
                  and not _PERIOD.match(item)):  # fmt: skip
                found.append(item)
            elif name == "reason" and isinstance(item, str) and " " in item:
                found.append(item)  # free-text reasons (codes have no spaces)
    return found


@pytest.mark.parametrize("envelope", sample_envelopes(), ids=lambda e: e.event_type)
def test_no_step_keeps_a_name_a_note_or_free_text(envelope: Envelope[Any]) -> None:
    step = step_of(envelope, None, facts_of(envelope))
    kept = json.dumps(asdict(step), default=str)
    secrets = _texts(envelope.payload)
    assert not [text for text in secrets if text in kept]


def test_the_samples_carry_confidential_text_for_the_check_above_to_find() -> None:
    # Without names and notes in the samples, the test above would prove nothing.
    everything = [t for e in SAMPLES.values() for t in _texts(e.payload)]
    assert len(everything) >= 10
    assert any(SAMPLES["TimeApproved"].payload.entry.notes in t for t in everything)


def test_a_posted_entry_names_its_erp_line_its_keys_and_its_trace() -> None:
    step = _step("TimePosted", trace_id="ab" * 16)
    posted = SAMPLES["TimePosted"].payload
    assert ("time_entry", posted.time_entry_id) == step.keys[0]
    assert ("project", posted.project_id) in step.keys
    assert ("worker", posted.worker_id) in step.keys
    assert [(s.system, s.object, s.id) for s in step.system_ids] == [
        ("erp", posted.erp_ref.object_type, posted.erp_ref.external_id)
    ]
    assert step.trace_id == "ab" * 16
    assert step.facts["flow"] == ["time_posting", posted.time_entry_id, "end"]


def test_a_submitted_timesheet_names_every_entry() -> None:
    submitted = SAMPLES["TimeSubmitted"].payload
    step = _step("TimeSubmitted")
    entries = [key for kind, key in step.keys if kind == "time_entry"]
    assert entries == [entry.id for entry in submitted.entries]
    assert ("timesheet", submitted.timesheet.id) in step.keys


def test_a_posted_invoice_names_its_number_and_charges() -> None:
    invoice = SAMPLES["InvoicePosted"].payload.invoice
    step = _step("InvoicePosted")
    assert ("erp", "invoice_number", invoice.number) in [
        (s.system, s.object, s.id) for s in step.system_ids
    ]
    charges = {charge for line in invoice.lines for charge in line.charge_ids}
    assert charges
    assert charges <= {key for kind, key in step.keys if kind == "charge"}


@pytest.mark.parametrize(
    ("event_type", "outcome"),
    [
        ("TimePosted", Outcome.OK),
        ("TimePostingFailed", Outcome.FAILED),
        ("ChargeHeld", Outcome.HELD),
        ("MessageParked", Outcome.PARKED),
        ("ReconciliationMismatch", Outcome.MISMATCH),
        ("RevenueLeakageDetected", Outcome.BREACH),
    ],
)
def test_outcomes(event_type: str, outcome: Outcome) -> None:
    assert _step(event_type).outcome is outcome


def test_a_failure_keeps_its_reason_code_not_its_message() -> None:
    failed = SAMPLES["TimePostingFailed"].payload
    step = _step("TimePostingFailed")
    assert step.reason == failed.reason.value
    assert failed.message not in json.dumps(asdict(step), default=str)


def test_the_flow_facts_pair_start_and_end_by_the_same_key() -> None:
    committed = _step("OpportunityCommitted").facts["flow"]
    activated = _step("ProjectActivated").facts["flow"]
    assert committed[:2] == activated[:2] == ["quote_to_cash", committed[1]]
    assert (committed[2], activated[2]) == ("start", "end")


def test_an_entry_approved_before_its_rate_is_resolved_is_a_step_without_a_rate() -> None:
    envelope = SAMPLES["TimeApproved"]
    entry = envelope.payload.entry.model_copy(update={"bill_rate": None})
    unrated = envelope.model_copy(update={"payload": envelope.payload.model_copy(
        update={"entry": entry})})  # fmt: skip
    facts = facts_of(unrated)
    assert (facts["rate"], facts["currency"]) == (None, None)
    assert (facts["entry"], facts["minutes"]) == (entry.id, entry.duration_minutes)
    assert step_of(unrated, None, facts).facts["flow"] == ["time_posting", entry.id, "start"]
    # The KPI projector keeps the entry, its standard value unknown until it is rated.
    planned: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    _plan("TimeApproved", "us", datetime.now(UTC), 1, facts, planned)
    [row] = planned[_ENTRY]
    assert (row[0], row[6], row[8], row[9]) == (entry.id, entry.duration_minutes, None, None)


def test_a_posting_without_a_bill_amount_is_a_step_without_a_standard_value() -> None:
    # time-expense posts time it has no amount for (non-billable time, a producer before the
    # field) with ``bill_amount`` None: found by make run, where it crashed the consumer.
    envelope = SAMPLES["TimePosted"]
    unpriced = envelope.model_copy(update={"payload": envelope.payload.model_copy(
        update={"bill_amount": None, "billable": True})})  # fmt: skip
    facts = facts_of(unpriced)
    assert (facts["amount"], facts["currency"]) == (None, None)
    assert facts["flow"] == ["time_posting", envelope.payload.time_entry_id, "end"]
    planned: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    _plan("TimePosted", "us", datetime.now(UTC), 1, facts, planned)
    [row] = planned[_POSTED]
    assert (row[0], row[8], row[9]) == (envelope.payload.time_entry_id, None, None)


def test_a_step_names_at_most_two_hundred_keys() -> None:
    envelope = SAMPLES["InvoiceReady"]
    many = tuple(f"chg-{n}" for n in range(500))
    big = envelope.model_copy(update={"payload": envelope.payload.model_copy(
        update={"charge_ids": many})})  # fmt: skip
    assert len(step_of(big, None).keys) == 200
