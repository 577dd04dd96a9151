"""The events project-sync adds for quote-to-cash (issue 14): customers, opportunity stages,
change orders, compensations and stuck sagas. Each round-trips through the codec, routes under
its context and subject, is published in docs/contracts, and refuses bad input with a typed
DecodeError."""

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tandem_contracts import (
    CATALOGUE,
    Context,
    DecodeError,
    Envelope,
    Event,
    ExternalRef,
    FloatMoneyError,
    Money,
    NaiveDatetimeError,
    SchemaValidationError,
    SystemKind,
    __version__,
    asyncapi_document,
    decode,
    encode,
    event_json_schema,
    schema_filename,
)
from tandem_contracts.entities import Budget
from tandem_contracts.events import (
    AccountUpserted,
    ChangeOrderApproved,
    CustomerLinked,
    CustomerMatch,
    FinanceFlagReason,
    OpportunityReopened,
    OpportunityStageChanged,
    ProjectCancelled,
    ProjectFlaggedForFinance,
    QuoteToCashStuck,
)
from tandem_contracts.samples import sample_envelopes

CONTRACTS = Path(__file__).resolve().parents[4] / "docs" / "contracts"
AT = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)

# event, context, subject type, subject id in the sample, system of record
NEW_EVENTS: list[tuple[type[Event], Context, str, str, SystemKind | None]] = [
    (AccountUpserted, Context.CRM, "customer", "cus-globex", SystemKind.CRM),
    (CustomerLinked, Context.CRM, "customer", "cus-globex", SystemKind.ERP),
    (OpportunityStageChanged, Context.CRM, "opportunity", "opp-0107", SystemKind.CRM),
    (OpportunityReopened, Context.CRM, "opportunity", "opp-0118", SystemKind.CRM),
    (ChangeOrderApproved, Context.PROJECT, "project", "prj-0001", SystemKind.PSA),
    (ProjectCancelled, Context.PROJECT, "project", "prj-0003", SystemKind.ERP),
    (ProjectFlaggedForFinance, Context.PROJECT, "project", "prj-0005", None),
    (QuoteToCashStuck, Context.OPS, "opportunity", "opp-0124", None),
]
NEW_MODELS = [row[0] for row in NEW_EVENTS]


def sample(model: type[Event]) -> Envelope[Any]:
    return next(e for e in sample_envelopes() if e.event_type == model.event_type)


def with_value(model: type[Event], path: str, value: Any) -> bytes:
    """The sample of ``model`` with the field at dotted ``path`` set (or, for ``DELETE``,
    removed)."""
    data: dict[str, Any] = json.loads(encode(sample(model)))
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return json.dumps(data).encode()


DELETE = object()


def refused(body: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(body)
    return caught.value


# --- catalogue, codec, routing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "context", "subject_type", "subject_id", "system"),
    NEW_EVENTS,
    ids=[m.event_type for m in NEW_MODELS],
)
def test_each_new_event_round_trips_and_routes_by_its_context_and_subject(
    model: type[Event], context: Context, subject_type: str, subject_id: str, system: SystemKind
) -> None:
    envelope = sample(model)
    decoded = decode(encode(envelope))
    assert decoded == envelope
    assert type(decoded.payload) is model
    assert CATALOGUE.current(model.event_type) is model
    assert model.context is context
    assert model.system_of_record is system
    assert model.producers == ("project-sync",)
    assert decoded.subject.type == subject_type
    assert decoded.payload.subject_id == decoded.subject.id == subject_id
    region, entity = envelope.data_residency_region, envelope.legal_entity_id
    assert decoded.routing_key == f"{context}.{model.event_type}.v1.{region}.{entity}"


@pytest.mark.parametrize("model", NEW_MODELS, ids=[m.event_type for m in NEW_MODELS])
def test_each_new_event_is_published_in_docs_contracts(model: type[Event]) -> None:
    committed = json.loads((CONTRACTS / "schemas" / schema_filename(model)).read_text())
    assert committed == event_json_schema(model)
    doc = json.loads((CONTRACTS / "asyncapi.json").read_text())
    assert doc == asyncapi_document(CATALOGUE, version=__version__)
    channel = doc["channels"][f"{model.event_type}.v1"]
    address = f"{model.context}.{model.event_type}.v1.{{region}}.{{legalEntityId}}"
    assert channel["address"] == address
    assert doc["components"]["messages"][f"{model.event_type}.v1"]["x-producers"] == [
        "project-sync"
    ]


def test_the_samples_follow_the_catalogue_one_per_event() -> None:
    assert [e.event_type for e in sample_envelopes()] == [m.event_type for m in CATALOGUE]


# --- AccountUpserted ---------------------------------------------------------------------------


def test_an_account_carries_the_canonical_customer_with_its_crm_reference() -> None:
    payload = decode(encode(sample(AccountUpserted))).payload
    assert payload.customer.tax_profile.country == "US"
    assert [r.system for r in payload.customer.refs] == [SystemKind.CRM]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.customer.refs", []),
        ("payload.customer.refs.0.system", "erp"),
        ("payload.customer.currency", "XYZ"),
        ("payload.customer.status", "deleted"),
        ("payload.upserted_at", DELETE),
    ],
)
def test_an_account_without_a_crm_ref_or_with_bad_fields_is_refused(path: str, value: Any) -> None:
    assert isinstance(refused(with_value(AccountUpserted, path, value)), SchemaValidationError)


@pytest.mark.parametrize(
    ("path", "limit"),
    [("payload.customer.name", 200), ("payload.customer.billing_address", 1000)],
)
def test_account_text_is_bounded(path: str, limit: int) -> None:
    assert decode(with_value(AccountUpserted, path, "x" * limit))
    refused(with_value(AccountUpserted, path, "x" * (limit + 1)))


# --- CustomerLinked ----------------------------------------------------------------------------


def linked(**changes: Any) -> CustomerLinked:
    fields: dict[str, Any] = {
        "customer_id": "cus-1",
        "erp_ref": ExternalRef(
            system=SystemKind.ERP, instance="tryton-de", object_type="party.party", external_id="9"
        ),
        "created": True,
        "matched_by": CustomerMatch.CREATED,
        "linked_at": AT,
        **changes,
    }
    return CustomerLinked(**fields)


def test_a_customer_link_says_whether_it_created_or_matched_the_erp_customer() -> None:
    assert linked().created
    found = linked(created=False, matched_by=CustomerMatch.KEY)
    assert (found.created, found.matched_by, found.crm_ref) == (False, "key", None)
    with pytest.raises(ValidationError, match="created is true exactly when"):
        linked(created=True, matched_by=CustomerMatch.TAX_ID)
    with pytest.raises(ValidationError, match="created is true exactly when"):
        linked(created=False)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.matched_by", "email"),
        ("payload.created", True),  # the sample matched by tax id
        ("payload.erp_ref.system", "crm"),
        ("payload.crm_ref.system", "psa"),
        ("payload.customer_id", "cus globex"),
    ],
)
def test_a_bad_or_inconsistent_customer_link_is_refused(path: str, value: Any) -> None:
    error = refused(with_value(CustomerLinked, path, value))
    assert isinstance(error, SchemaValidationError)
    assert any(p.startswith("payload") for p in error.paths)


def test_a_customer_link_without_its_crm_ref_still_decodes() -> None:
    decoded = decode(with_value(CustomerLinked, "payload.crm_ref", DELETE))
    assert decoded.payload.crm_ref is None
    assert decoded.payload.erp_ref.external_id == "412"


# --- OpportunityStageChanged and OpportunityReopened -------------------------------------------


def test_a_stage_change_carries_the_native_stage_and_the_canonical_status() -> None:
    payload = sample(OpportunityStageChanged).payload
    assert (payload.stage, payload.status) == ("Negotiation/Review", "open")
    assert payload.amount == Money.of("93200.00", "USD")


@pytest.mark.parametrize(
    ("path", "value", "error_type"),
    [
        ("payload.amount.amount", 93200.5, FloatMoneyError),
        ("payload.status", "won", SchemaValidationError),
        ("payload.probability_pct", 101, SchemaValidationError),
        ("payload.stage", "s" * 81, SchemaValidationError),
        ("payload.stage", "", SchemaValidationError),
        ("payload.changed_at", "2026-09-22T10:05:00", NaiveDatetimeError),
    ],
)
def test_a_bad_stage_change_is_refused(
    path: str, value: Any, error_type: type[DecodeError]
) -> None:
    error = refused(with_value(OpportunityStageChanged, path, value))
    assert isinstance(error, error_type)
    assert path in error.paths  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "value", "error_type"),
    [
        ("payload.stage", "", SchemaValidationError),
        ("payload.reason", "r" * 501, SchemaValidationError),
        ("payload.reopened_at", "2026-10-08T09:40:00", NaiveDatetimeError),
        ("payload.reopened_at", 1791452400, SchemaValidationError),
    ],
)
def test_a_bad_reopening_is_refused(path: str, value: Any, error_type: type[DecodeError]) -> None:
    error = refused(with_value(OpportunityReopened, path, value))
    assert isinstance(error, error_type)
    assert path in error.paths  # type: ignore[attr-defined]


def test_a_reopening_reason_is_optional_and_bounded_at_500() -> None:
    assert decode(with_value(OpportunityReopened, "payload.reason", DELETE)).payload.reason is None
    assert decode(with_value(OpportunityReopened, "payload.reason", "r" * 500))


# --- ChangeOrderApproved -----------------------------------------------------------------------


def change_order(**changes: Any) -> ChangeOrderApproved:
    fields: dict[str, Any] = {
        "project_id": "prj-1",
        "change_order_id": "co-1",
        "budget": Budget(minutes=600, amount=Money.of("1500.00", "EUR")),
        "effective_from": date(2026, 11, 16),
        "approved_at": AT,
        **changes,
    }
    return ChangeOrderApproved(**fields)


def test_a_change_order_needs_only_the_new_budget() -> None:
    order = change_order()
    assert (order.total_value, order.cap, order.contract_id) == (None, None, None)
    decoded = decode(encode(sample(ChangeOrderApproved)))
    assert decoded.payload.budget.minutes == 560 * 60
    assert decoded.payload.cap == Money.of("115000.00", "USD")


def test_a_change_order_in_two_currencies_is_refused() -> None:
    with pytest.raises(ValidationError, match="project's currency"):
        change_order(cap=Money.of("2000.00", "USD"))
    error = refused(with_value(ChangeOrderApproved, "payload.cap.currency", "EUR"))
    assert isinstance(error, SchemaValidationError)
    assert error.paths == ("payload",)


@pytest.mark.parametrize(
    ("path", "value", "error_type"),
    [
        ("payload.cap.amount", 115000.0, FloatMoneyError),
        ("payload.total_value.amount", 1e3, FloatMoneyError),
        ("payload.budget.minutes", -1, SchemaValidationError),
        ("payload.budget.minutes", 60.0, SchemaValidationError),
        ("payload.budget", DELETE, SchemaValidationError),
        ("payload.effective_from", "2026-11-16T00:00:00Z", SchemaValidationError),
        ("payload.description", "d" * 501, SchemaValidationError),
    ],
)
def test_a_bad_change_order_is_refused(
    path: str, value: Any, error_type: type[DecodeError]
) -> None:
    error = refused(with_value(ChangeOrderApproved, path, value))
    assert isinstance(error, error_type)
    assert path in error.paths  # type: ignore[attr-defined]


# --- ProjectCancelled and ProjectFlaggedForFinance ---------------------------------------------


def test_a_cancelled_shell_names_the_records_cancelled_in_the_erp_and_the_psa() -> None:
    payload = decode(encode(sample(ProjectCancelled))).payload
    assert payload.opportunity_id == "opp-0118"
    assert {r.system for r in payload.refs} == {SystemKind.ERP, SystemKind.PSA}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.reason", "r" * 501),
        ("payload.reason", ""),
        ("payload.opportunity_id", DELETE),
        ("payload.cancelled_at", "2026-10-08"),
    ],
)
def test_a_bad_cancellation_is_refused(path: str, value: Any) -> None:
    error = refused(with_value(ProjectCancelled, path, value))
    assert isinstance(error, SchemaValidationError)
    assert path in error.paths


def test_a_cancellation_reason_is_bounded_at_500() -> None:
    assert decode(with_value(ProjectCancelled, "payload.reason", "r" * 500))


def test_a_finance_flag_has_a_typed_reason() -> None:
    payload = decode(encode(sample(ProjectFlaggedForFinance))).payload
    assert payload.reason is FinanceFlagReason.LOST_AFTER_TIME_LOGGED
    body = with_value(ProjectFlaggedForFinance, "payload.reason", "reopened_after_time_logged")
    assert decode(body).payload.reason is FinanceFlagReason.REOPENED_AFTER_TIME_LOGGED


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("payload.reason", "deleted"),
        ("payload.reason", "LOST_AFTER_TIME_LOGGED"),
        ("payload.detail", "d" * 2001),
        ("payload.detail", ""),
        ("payload.project_id", "prj/0005"),
    ],
)
def test_a_bad_finance_flag_is_refused(path: str, value: Any) -> None:
    error = refused(with_value(ProjectFlaggedForFinance, path, value))
    assert isinstance(error, SchemaValidationError)
    assert path in error.paths


# --- QuoteToCashStuck --------------------------------------------------------------------------


def test_a_stuck_saga_says_where_since_when_and_what_it_waits_for() -> None:
    payload = decode(encode(sample(QuoteToCashStuck))).payload
    assert payload.step == "validate_customer"
    assert payload.since == datetime(2026, 11, 3, 9, tzinfo=UTC)
    assert payload.detected_at - payload.since == AT - payload.since
    bare = with_value(QuoteToCashStuck, "payload.waiting_for", DELETE)
    assert decode(bare).payload.waiting_for is None


@pytest.mark.parametrize(
    ("path", "value", "error_type"),
    [
        ("payload.step", "s" * 81, SchemaValidationError),
        ("payload.step", "", SchemaValidationError),
        ("payload.waiting_for", "w" * 201, SchemaValidationError),
        ("payload.reason", "r" * 501, SchemaValidationError),
        ("payload.since", "2026-11-03T09:00:00", NaiveDatetimeError),
    ],
)
def test_a_bad_stuck_alert_is_refused(path: str, value: Any, error_type: type[DecodeError]) -> None:
    error = refused(with_value(QuoteToCashStuck, path, value))
    assert isinstance(error, error_type)
    assert path in error.paths  # type: ignore[attr-defined]


def test_a_saga_cannot_be_detected_stuck_before_it_stuck() -> None:
    error = refused(with_value(QuoteToCashStuck, "payload.since", "2026-11-04T09:00:01Z"))
    assert isinstance(error, SchemaValidationError)
    assert "detected_at cannot be before since" in str(error)
    assert decode(with_value(QuoteToCashStuck, "payload.since", "2026-11-04T09:00:00Z"))
