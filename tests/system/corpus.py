"""A corpus of hostile and careless input for every ingress of a service, with the answer each
case must get: an HTTP status for the process API and the webhooks, a parked reason for AMQP.

The corpus is data: each service adds its routes and the events it consumes, and the kit's
routes (parking lot, inbound, company links) come with every service. A case names what it
tries, so a failure reads as the defect it found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tandem_contracts import Envelope, ExternalRef, Money, Producer, SystemKind, encode
from tandem_contracts.entities import (
    BillingModel,
    Customer,
    InvoiceLine,
    Project,
    ProjectStatus,
    TaxProfile,
)
from tandem_contracts.events import (
    AccountUpserted,
    ExpensePosted,
    InvoiceReady,
    ProjectActivated,
    TimePosted,
)

__all__ = [
    "BILLING_PROJECT",
    "AmqpCase",
    "HttpCase",
    "amqp_cases",
    "billing_amqp_cases",
    "billing_api_cases",
    "billing_id_values",
    "billing_limit_values",
    "billing_reader_cases",
    "billing_setup",
    "billing_time",
    "body_cases",
    "id_path_values",
    "key_values",
    "limit_values",
    "period_values",
    "query_cases",
]


@dataclass(frozen=True)
class HttpCase:
    """One request and the status it must be answered with."""

    name: str
    method: str
    url: str
    expect: int
    body: bytes | None = None
    headers: Mapping[str, str | bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class AmqpCase:
    """One message and the reason it must be parked with."""

    name: str
    body: bytes
    reason: str
    headers: Mapping[str, Any] = field(default_factory=dict)
    content_type: str | None = "application/json"


# (name, value as it goes into the URL, status) for an id filter or page cursor (1..255 chars).
def key_values(found: int = 200) -> list[tuple[str, str, int]]:
    """Hostile values of an id-like parameter; ``found`` is the answer to a well-formed one."""
    return [
        ("nul", "%00abc", 400),
        ("nul-at-end", "abc%00", 400),
        ("over-255", "a" * 256, 422),
        ("over-the-query-limit", "a" * 9000, 414),
        ("empty", "", 422),
        ("sql-injection", "%27%20OR%201%3D1%20--", found),
        ("sql-comment", "x%27%3B%20DROP%20TABLE%20entries%3B--", found),
        ("unicode", "caf%C3%A9%F0%9F%98%80", found),
        ("rtl-override", "%E2%80%AEabc", found),
        ("escape-sequence", "%1B%5B31m", found),
        ("invalid-utf8", "%FF%FE", found),
        ("utf8-encoded-surrogate", "%ED%A0%80", found),
        ("percent", "%25", found),
        ("json-escape-text", "%5Cu0000", found),
        ("whitespace", "%20%09%0A", found),
    ]


def id_path_values(found: int = 404) -> list[tuple[str, str, int]]:
    """Hostile values of a path id held to ``[A-Za-z0-9_-:]{1,64}``; ``found`` is the answer
    to a well-formed one (unknown ids: 404). The last two are the well-formed ones."""
    return [
        ("nul", "%00abc", 400),
        ("nul-at-end", "abc%00", 400),
        ("over-64", "a" * 65, 422),
        ("sql-injection", "%27%20OR%201%3D1%20--", 422),
        ("sql-comment", "x%27%3B%20DROP%20TABLE%20sagas%3B--", 422),
        ("unicode", "caf%C3%A9%F0%9F%98%80", 422),
        ("rtl-override", "%E2%80%AEabc", 422),
        ("escape-sequence", "%1B%5B31m", 422),
        ("invalid-utf8", "%FF%FE", 422),
        ("percent", "%25", 422),
        ("whitespace", "%20%09%0A", 422),
        ("dot-segments", "..%2F..%2Fetc", 404),  # decoded: no route has that path
        ("longest", "a" * 64, found),
        ("well-formed", "crm-0061x000:opp_1", found),
    ]


def period_values() -> list[tuple[str, str, int]]:
    """Hostile accounting periods (YYYY-MM, years 1900-2999)."""
    return [
        ("year-zero", "0000-10", 422),
        ("month-13", "2026-13", 422),
        ("month-zero", "2026-00", 422),
        ("year-9999", "9999-12", 422),
        ("year-1899", "1899-12", 422),
        ("one-digit-month", "2026-1", 422),
        ("a-date", "2026-10-01", 422),
        ("nul", "%002026-10", 400),
        ("signed", "%2B2026-10", 422),
        ("fullwidth-digits", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-10", 422),
        ("empty", "", 422),
        ("trailing-newline", "2026-10%0A", 422),
        ("valid", "2026-10", 200),
    ]


def limit_values() -> list[tuple[str, str, int]]:
    """Hostile page sizes (1..500)."""
    return [
        ("zero", "0", 422),
        ("negative", "-1", 422),
        ("over-500", "501", 422),
        ("exponent", "1e3", 422),
        ("fraction", "1.5", 422),
        ("word", "abc", 422),
        ("beyond-64-bits", "9" * 30, 422),
        ("empty", "", 422),
        ("nul", "5%00", 400),
        ("largest", "500", 200),
        ("smallest", "1", 200),
    ]


def query_cases(
    route: str,
    parameter: str,
    values: list[tuple[str, str, int]],
    *,
    fixed: str = "",
) -> Iterator[HttpCase]:
    """A GET of ``route`` with ``parameter`` set to each value (``fixed``: other parameters)."""
    for name, value, status in values:
        query = f"{fixed}&{parameter}={value}" if fixed else f"{parameter}={value}"
        yield HttpCase(f"GET {route} {parameter}={name}", "GET", f"{route}?{query}", status)


def body_cases(
    method: str,
    route: str,
    valid: dict[str, Any],
    variants: list[tuple[str, dict[str, Any] | bytes, int]],
) -> Iterator[HttpCase]:
    """A JSON request of ``route`` per variant: a dict is merged into ``valid`` (a value of
    ``...`` removes the field), bytes are sent as they are."""
    for name, change, status in variants:
        if isinstance(change, bytes):
            body = change
        else:
            merged = {k: v for k, v in (valid | change).items() if v is not ...}
            body = json.dumps(merged).encode()
        yield HttpCase(
            f"{method} {route} {name}",
            method,
            route,
            status,
            body=body,
            headers={"content-type": "application/json"},
        )


def nested(depth: int) -> bytes:
    """A JSON text nested ``depth`` arrays deep."""
    return b"[" * depth + b"]" * depth


def amqp_cases(valid: bytes) -> Iterator[AmqpCase]:
    """Undecodable bodies and forged runtime headers on a queue's messages; ``valid`` is a
    valid envelope of an event the queue consumes, the base of the malformed ones."""
    envelope = json.loads(valid)

    def altered(**changes: Any) -> bytes:
        return json.dumps(envelope | changes).encode()

    def payload(**changes: Any) -> bytes:
        return altered(payload=envelope["payload"] | changes)

    yield AmqpCase("not-json", b"{not json", "bad_encoding")
    yield AmqpCase("not-utf8", b"\xff\xfe{}", "bad_encoding")
    yield AmqpCase("a-json-array", b"[1, 2, 3]", "bad_encoding")
    yield AmqpCase("empty-body", b"", "bad_encoding")
    yield AmqpCase("nested-100k", nested(100_000), "bad_encoding")
    yield AmqpCase("unknown-type", altered(event_type="NoSuchEvent"), "unknown_event_type")
    yield AmqpCase("unknown-version", altered(schema_version=99), "unknown_schema_version")
    yield AmqpCase("naive-datetime", altered(occurred_at="2026-10-01T09:00:00"), "naive_datetime")
    yield AmqpCase("missing-payload", altered(payload=None), "schema_invalid")
    yield AmqpCase("version-beyond-64-bits", altered(subject_version=2**70), "schema_invalid")
    yield AmqpCase("negative-version", altered(subject_version=-1), "schema_invalid")
    yield AmqpCase("tenant-too-long", altered(tenant_id="t" * 10_000), "schema_invalid")
    yield AmqpCase("date-as-datetime", payload(start_date="2024-01-01T00:00:00"), "schema_invalid")
    yield AmqpCase("year-zero-date", payload(start_date="0000-01-01"), "schema_invalid")
    nul = altered(correlation_id="c\u0000")
    yield AmqpCase("nul-in-a-string", nul, "unsafe_text")
    lone = valid.replace(b'"tenant_id":"', b'"tenant_id":"\\ud800', 1)
    assert lone != valid
    yield AmqpCase("lone-surrogate", lone, "unsafe_text")
    yield AmqpCase("lone-low-surrogate", altered(tenant_id="\udc00"), "unsafe_text")
    yield AmqpCase("oversized", altered(padding="x" * 2_000_000), "oversized")
    forged: list[tuple[str, dict[str, Any]]] = [
        ("attempt-word", {"x-tandem-attempt": "abc"}),
        ("attempt-negative", {"x-tandem-attempt": -5}),
        ("attempt-huge", {"x-tandem-attempt": 2**63 - 1}),
        ("attempt-bool", {"x-tandem-attempt": True}),
        ("attempt-bytes", {"x-tandem-attempt": bytearray(b"\x00\x01")}),
        ("first-failure-garbage", {"x-tandem-first-failure-at": "garbage"}),
        ("first-failure-impossible", {"x-tandem-first-failure-at": "9999-99-99"}),
        ("first-failure-naive", {"x-tandem-first-failure-at": "2026-10-01T09:00:00"}),
        ("routing-key-100k", {"x-tandem-routing-key": "k" * 100_000}),
        ("last-error-nul", {"x-tandem-last-error": "boom\x00"}),
        ("header-table", {"x-tandem-attempt": {"nested": {"deeper": [1, 2]}}}),
        ("correlation-nul", {"x-correlation-id": "c\x00"}),
    ]
    for name, headers in forged:
        # Undecodable, so the park path reads the forged headers at once.
        yield AmqpCase(f"forged-{name}", b"{not json", "bad_encoding", headers=headers)


# --- billing-readiness ---------------------------------------------------------------------
# Its id filters and path ids are held to [A-Za-z0-9_-:.]{1,64}; its page size to 1..1000; an
# audited decision's reason to 3..500 characters, not all white space or control characters.

BILLING_PROJECT = "p-corpus"
BILLING_RELEASE: dict[str, Any] = {"reason": "customer agreed", "decision": "approve"}


def billing_id_values() -> list[tuple[str, str, int]]:
    """Hostile values of an id filter (a well-formed unknown id lists nothing: 200)."""
    held = [
        (name, value, 422 if name == "dot-segments" else 200 if status == 404 else status)
        for name, value, status in id_path_values()
    ]
    return [*held, ("over-the-query-limit", "a" * 9000, 414), ("empty", "", 422)]


def billing_limit_values() -> list[tuple[str, str, int]]:
    """Hostile page sizes (1..1000)."""
    return [
        (name.replace("500", "1000"), {"501": "1001", "500": "1000"}.get(value, value), status)
        for name, value, status in limit_values()
    ]


def _reason_variants(unknown: int) -> list[tuple[str, dict[str, Any] | bytes, int]]:
    """Bad reasons of an audited decision; ``unknown``: the answer to a good one (the charge
    or project does not exist)."""
    return [
        ("unknown-subject", {}, unknown),
        ("reason-one-char", {"reason": "x"}, 422),
        ("reason-two-chars", {"reason": "ok"}, 422),
        ("reason-blank", {"reason": "     "}, 422),
        ("reason-control", {"reason": "\u0007\t\n"}, 422),
        ("reason-501", {"reason": "r" * 501}, 422),
        ("no-reason", {"reason": ...}, 422),
        ("reason-a-number", {"reason": 7}, 422),
        ("not-json", b"{reason:", 422),
        ("a-json-array", b"[]", 422),
        ("empty-body", b"", 422),
        ("nested-100k", nested(100_000), 400),
        ("nul-in-reason", b'{"reason": "agreed\\u0000", "disputed": true}', 400),
        ("lone-surrogate", b'{"reason": "\\ud800 agreed", "disputed": true}', 400),
        ("two-megabytes", {"pad": "x" * 2_000_000}, 413),
    ]


def billing_api_cases() -> Iterator[HttpCase]:
    """billing-readiness's own routes (``/v1``), for a caller with every scope."""
    for route in ("/v1/charges", "/v1/invoices", "/v1/leakage", "/v1/wip"):
        yield from query_cases(route, "project_id", billing_id_values())
    for route in ("/v1/charges", "/v1/invoices"):
        yield from query_cases(route, "after", billing_id_values())
        yield from query_cases(route, "limit", billing_limit_values())
    yield from query_cases(
        "/v1/charges", "status",
        [("unknown", "nope", 422), ("upper-case", "OPEN", 422), ("nul", "%00", 400),
         ("open", "open", 200), ("invoiced", "invoiced", 200)],
    )  # fmt: skip
    yield from query_cases(
        "/v1/charges", "held", [("word", "maybe", 422), ("number", "2", 422), ("true", "true", 200)]
    )
    yield from query_cases(
        "/v1/wip", "as_of",
        [("garbage", "garbage", 422), ("february-30", "2026-02-30", 422),
         ("year-zero", "0000-01-01", 422), ("nul", "2026-10-01%00", 400),
         ("zero-as-epoch", "0", 422), ("digits", "20261001", 422),
         ("datetime", "2026-10-01T00:00:00", 422), ("valid", "2026-10-01", 200)],
    )  # fmt: skip
    yield from query_cases(
        "/v1/reconciliation", "months",
        [("zero", "0", 422), ("thirteen", "13", 422), ("negative", "-1", 422),
         ("word", "abc", 422), ("fraction", "1.5", 422), ("beyond-64-bits", "9" * 30, 422),
         ("nul", "2%00", 400), ("one", "1", 200), ("twelve", "12", 200)],
    )  # fmt: skip
    for name, value, status in id_path_values():
        yield HttpCase(f"GET billing {name}", "GET", f"/v1/projects/{value}/billing", status)
    too_long = "/v1/projects/" + "a" * 3000 + "/billing"
    yield HttpCase("GET billing path-too-long", "GET", too_long, 414)
    release = "/v1/charges/chg-none/release"
    yield from body_cases(
        "POST", release, BILLING_RELEASE,
        [*_reason_variants(404), ("decision-unknown", {"decision": "maybe"}, 422),
         ("decision-upper-case", {"decision": "APPROVE"}, 422),
         ("write-off-unknown", {"decision": "write_off"}, 404)],
    )  # fmt: skip
    for name, value, status in id_path_values()[:-2]:  # the well-formed: answered above
        yield HttpCase(
            f"POST release {name}", "POST", f"/v1/charges/{value}/release", status,
            json.dumps(BILLING_RELEASE).encode(), {"content-type": "application/json"},
        )  # fmt: skip
    yield HttpCase("GET release", "GET", release, 405)
    yield from body_cases(
        "POST", "/v1/projects/p-none/overage", BILLING_RELEASE,
        [*_reason_variants(404), ("decision-unknown", {"decision": "maybe"}, 422)],
    )  # fmt: skip
    dispute = {"reason": "customer disputes the hours", "disputed": True}
    yield from body_cases(
        "PUT", "/v1/projects/p-none/dispute", dispute,
        [*_reason_variants(404), ("disputed-a-word", {"disputed": "maybe"}, 422),
         ("disputed-a-number", {"disputed": 2}, 422), ("no-disputed", {"disputed": ...}, 422)],
    )  # fmt: skip
    yield HttpCase("POST readiness", "POST", "/v1/readiness", 200)
    yield HttpCase("GET readiness", "GET", "/v1/readiness", 405)


def billing_reader_cases(reader_key: str) -> Iterator[HttpCase]:
    """What a caller with ``billing:read`` only may not do: decide on money, run a pass."""
    reader = {"X-API-Key": reader_key, "content-type": "application/json"}
    body = json.dumps(BILLING_RELEASE).encode()
    for method, route, what in (
        ("POST", "/v1/charges/chg-none/release", body),
        ("POST", f"/v1/projects/{BILLING_PROJECT}/overage", body),
        ("PUT", f"/v1/projects/{BILLING_PROJECT}/dispute",
         json.dumps({"reason": "customer disputes", "disputed": True}).encode()),
        ("POST", "/v1/readiness", b"{}"),
    ):  # fmt: skip
        yield HttpCase(f"{method} {route} as a reader", method, route, 403, what, reader)


def _billing_envelope(payload: Any, version: int, producer: str) -> Envelope[Any]:
    return Envelope.new(
        payload, producer=Producer(service=producer), tenant_id="acme", legal_entity_id="le-uk",
        data_residency_region="eu", correlation_id=f"corpus-{payload.subject_id}",
        subject_version=version,
    )  # fmt: skip


def billing_setup() -> list[Envelope[Any]]:
    """The customer and the active T&M project (GBP, ``le-uk``) the AMQP cases charge."""
    at = datetime.now(UTC)
    customer = Customer(
        id="c-corpus", name="Corpus Ltd", legal_entity_id="le-uk", country="GB",
        currency="GBP", tax_profile=TaxProfile(country="GB"),
        refs=(ExternalRef(system=SystemKind.CRM, instance="crm", object_type="account",
                          external_id="acc-corpus"),),
    )  # fmt: skip
    project = Project(
        id=BILLING_PROJECT, name="Corpus", customer_id="c-corpus", legal_entity_id="le-uk",
        currency="GBP", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE, start_date=date(2026, 10, 1),
    )  # fmt: skip
    return [
        _billing_envelope(AccountUpserted(customer=customer, upserted_at=at), 1, "project-sync"),
        _billing_envelope(ProjectActivated(project=project, activated_at=at), 2, "project-sync"),
    ]


def billing_time(entry_id: str, project_id: str = BILLING_PROJECT, **changes: Any) -> Envelope[Any]:
    """A ``TimePosted`` of an hour at 150.00 GBP on 12 October 2026 (``changes`` override)."""
    fields: dict[str, Any] = {
        "time_entry_id": entry_id, "project_id": project_id, "worker_id": "w-corpus",
        "erp_ref": ExternalRef(system=SystemKind.ERP, instance="erp", object_type="time_line",
                               external_id=f"tl-{entry_id}"),
        "work_date": date(2026, 10, 12), "accounting_date": date(2026, 10, 12),
        "duration_minutes": 60, "bill_amount": Money.of("150.00", "GBP"), "billable": True,
        "bill_rate": Money.of("150.00", "GBP"), "posted_at": datetime.now(UTC),
        "worker_legal_entity_id": "le-uk", "project_legal_entity_id": "le-uk",
    }  # fmt: skip
    return _billing_envelope(TimePosted(**(fields | changes)), 3, "time-expense")


def billing_amqp_cases() -> Iterator[AmqpCase]:
    """Well-formed events billing-readiness must refuse for what they say, each parked with
    its reason (the project of ``billing_setup`` active); and one waiting for a project
    never activated."""
    no_rate = billing_time("te-no-rate", bill_rate=None, bill_amount=None)
    yield AmqpCase("billable time without rate or amount", encode(no_rate), "missing_rate")
    expense = ExpensePosted(
        expense_id="ex-usd", project_id=BILLING_PROJECT,
        erp_ref=ExternalRef(system=SystemKind.ERP, instance="erp", object_type="expense_line",
                            external_id="el-usd"),
        accounting_date=date(2026, 10, 12), amount=Money.of("80.00", "USD"),
        posted_at=datetime.now(UTC), billable=True, category="travel",
    )  # fmt: skip
    yield AmqpCase(
        "expense in another currency, none converted",
        encode(_billing_envelope(expense, 1, "time-expense")), "currency_mismatch",
    )  # fmt: skip
    amount = Money.of("150.00", "GBP")
    line = InvoiceLine(description="Services", quantity=Decimal(1), uom="hour",
                       unit_price=amount, amount=amount, charge_ids=("chg-forged",))  # fmt: skip
    forged = InvoiceReady(
        invoice_id="inv-forged", project_id=BILLING_PROJECT, customer_id="c-corpus",
        billing_period="2026-10", currency="GBP", lines=(line,), subtotal=amount,
        charge_ids=("chg-forged",),
    )  # fmt: skip
    yield AmqpCase(
        "an invoice never proposed",
        encode(_billing_envelope(forged, 1, "billing-readiness")), "unknown_invoice",
    )  # fmt: skip
    stray = billing_time("te-stray", project_id="p-never-activated")
    yield AmqpCase("time of a project never activated", encode(stray), "dependency_missing")
