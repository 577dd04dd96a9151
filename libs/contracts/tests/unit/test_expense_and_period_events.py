"""ExpenseRejected, PeriodReopened, and the reversal and FX fields ExpensePosted gained."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tandem_contracts import ExternalRef, Money, SchemaValidationError, SystemKind, decode, encode
from tandem_contracts.entities import FxUsed
from tandem_contracts.events import ExpensePosted, ExpenseRejected, PeriodReopened
from tandem_contracts.samples import sample_envelopes

AT = datetime(2026, 11, 5, 16, 20, tzinfo=UTC)


def sample(event_type: str) -> Any:
    return next(e for e in sample_envelopes() if e.event_type == event_type)


def test_an_expense_posted_by_an_older_producer_still_decodes() -> None:
    data = json.loads(encode(sample("ExpensePosted")))
    for field in ("project_amount", "fx", "reversal_of"):
        data["payload"].pop(field)  # a v1 producer from before the fields existed
    decoded = decode(json.dumps(data).encode())
    assert isinstance(decoded.payload, ExpensePosted)
    assert decoded.payload.reversal_of is None
    assert decoded.payload.project_amount is None
    assert decoded.payload.fx is None


def test_a_reversing_expense_posting_round_trips_with_its_conversion() -> None:
    posted = sample("ExpensePosted")
    reversal = posted.payload.model_copy(
        update={
            "erp_ref": ExternalRef(
                system=SystemKind.ERP, instance="tryton-us", object_type="expense_line",
                external_id="4502",
            ),
            "amount": Money.of("-412.60", "USD"),
            "project_amount": Money.of("-379.59", "EUR"),
            "fx": FxUsed(
                rate_id="fx-usd-eur-20261025", rate=Decimal("0.92"), rate_date=date(2026, 10, 25)
            ),
            "reversal_of": "exp-0311",
        }
    )  # fmt: skip
    envelope = posted.model_copy(update={"payload": reversal})
    decoded = decode(encode(envelope))
    assert decoded == envelope
    assert decoded.payload.reversal_of == "exp-0311"
    assert decoded.payload.project_amount == Money.of("-379.59", "EUR")


def test_an_expense_rejection_names_its_expense_and_bounds_its_reason() -> None:
    rejected = sample("ExpenseRejected")
    assert rejected.payload.subject_id == rejected.payload.expense_id == "exp-0311"
    assert rejected.subject.type == "expense"
    assert rejected.routing_key.startswith("time.ExpenseRejected.v1.")
    assert _rejection("r" * 500).reason == "r" * 500
    with pytest.raises(ValidationError):
        _rejection("r" * 501)
    data = json.loads(encode(rejected))
    del data["payload"]["was_approved"]
    with pytest.raises(SchemaValidationError):
        decode(json.dumps(data).encode())


def _rejection(reason: str) -> ExpenseRejected:
    return ExpenseRejected(
        expense_id="exp-1", project_id="prj-1", worker_id="wrk-1", was_approved=True,
        reason=reason, rejected_at=AT,
    )  # fmt: skip


def test_a_reopened_period_is_published_by_the_erp_about_the_period() -> None:
    reopened = sample("PeriodReopened")
    assert isinstance(reopened.payload, PeriodReopened)
    assert PeriodReopened.system_of_record is SystemKind.ERP
    assert reopened.subject.type == "accounting_period"
    assert reopened.payload.subject_id == reopened.payload.period.id == "per-de-2026-10"
    assert reopened.payload.period.status == "open"
    assert reopened.data_residency_region == "eu"
