"""Invoice reconciliation: the invoices posted here against one ERP company's, by the key each
was written under, and each invoice's charges against its subtotal."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing_readiness.domain import ChargeLine
from billing_readiness.service_layer.reconcile import (
    compare_charges,
    compare_invoices,
    unrecorded_invoices,
)
from billing_readiness.service_layer.unit_of_work import ChargeRecord, InvoiceTotals
from tandem_connectors.ports import ErpInvoice
from tandem_contracts import ExternalRef, Money, SystemKind
from tandem_contracts.entities import ChargeSource
from tandem_contracts.events import MismatchKind

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SETTLED = NOW - timedelta(minutes=5)


def ours(invoice_id: str = "inv-1", **changes: Any) -> InvoiceTotals:
    recorded = InvoiceTotals(
        invoice_id=invoice_id, project_id="prj-1", seller_entity="le-uk", period="2026-10",
        currency="GBP", status="posted", credit_of=None, invoice_date=date(2026, 11, 2),
        subtotal=Decimal("1550.0000"), total=Decimal("1860.0000"), erp_instance="erp",
        erp_id="cinv-1", number="INV-1-000001", erp_subtotal=Decimal("1550.0000"),
        erp_total=Decimal("1860.0000"), proposed_at=NOW - timedelta(days=27),
        charged=Decimal("1550.0000"), charges=3,
    )  # fmt: skip
    return recorded._replace(**changes)


def theirs(
    key: str | None = "inv-1", subtotal: str = "1550.00", total: str = "1860.00", **changes: Any
) -> ErpInvoice:
    fields: dict[str, Any] = {
        "ref": ExternalRef(system=SystemKind.ERP, instance="erp", object_type="invoice",
                           external_id=f"cinv-{key}"),
        "key": key, "number": "INV-1-000001", "state": "posted", "currency": "GBP",
        "invoice_date": date(2026, 11, 2), "subtotal": Money.of(subtotal, "GBP"),
        "tax_total": Money.of("310.00", "GBP"), "total": Money.of(total, "GBP"), "lines": {},
    }  # fmt: skip
    return ErpInvoice(**(fields | changes))


def compare(mine: list[InvoiceTotals], erp: list[ErpInvoice]) -> list[tuple[MismatchKind, str]]:
    found = compare_invoices(mine, erp, legal_entity_id="le-uk", settled_before=SETTLED)
    assert all(m.legal_entity_id == "le-uk" for m in found)
    return [(m.kind, m.scope_key) for m in found]


def test_the_same_invoice_on_both_sides_is_clean() -> None:
    # Totals kept to 4 places here, 2 in the ERP: the same amounts.
    assert compare([ours()], [theirs()]) == []


def test_an_ERP_invoice_not_written_by_billing_readiness_is_none_of_its_business() -> None:
    # A free-text reference that only starts like ours is not one of our keys either.
    others = [theirs(None), theirs("INV-manual-7"), theirs("inv- see PO 7"), theirs("inv-")]
    assert compare([ours()], [theirs(), *others]) == []


def test_a_posted_invoice_missing_in_the_ERP_or_cancelled_there() -> None:
    assert compare([ours()], []) == [(MismatchKind.MISSING_IN_TARGET, "invoice:inv-1")]
    [cancelled] = compare_invoices(
        [ours()], [theirs(state="cancelled")], legal_entity_id="le-uk", settled_before=SETTLED
    )
    assert cancelled.kind is MismatchKind.MISSING_IN_TARGET
    assert cancelled.target_value.startswith("cancelled")
    assert cancelled.item_ids == ("inv-1",)
    assert (cancelled.project_id, cancelled.period) == ("prj-1", "2026-10")


def test_a_total_or_subtotal_that_differs() -> None:
    [total] = compare_invoices(
        [ours()], [theirs(total="1870.00")], legal_entity_id="le-uk", settled_before=SETTLED
    )
    assert total.kind is MismatchKind.AMOUNT_DIFFERS
    assert "1860.00" in total.source_value
    assert "1870.00" in total.target_value
    assert compare([ours()], [theirs(subtotal="1500.00")]) == [
        (MismatchKind.AMOUNT_DIFFERS, "invoice:inv-1")
    ]
    assert compare([ours()], [theirs(currency="EUR")]) == [
        (MismatchKind.AMOUNT_DIFFERS, "invoice:inv-1")
    ]


def test_two_ERP_invoices_under_one_key_are_a_duplicate() -> None:
    second = theirs(ref=theirs().ref.model_copy(update={"external_id": "cinv-2"}), number=None)
    assert compare([ours()], [theirs(), second]) == [
        (MismatchKind.DUPLICATE_IN_TARGET, "invoice:inv-1")
    ]


def test_an_invoice_posted_in_the_ERP_under_our_key_never_recorded_as_posted() -> None:
    never = compare([], [theirs("inv-9")])
    assert never == [(MismatchKind.MISSING_IN_SOURCE, "invoice:inv-9")]
    stuck = ours(status="drafted", number=None, erp_total=None)
    assert compare([stuck], [theirs()]) == [(MismatchKind.MISSING_IN_SOURCE, "invoice:inv-1")]


def test_an_invoice_being_posted_now_or_still_a_draft_is_in_flight() -> None:
    posting = ours(status="drafted", proposed_at=NOW - timedelta(minutes=1), erp_total=None)
    assert compare([posting], [theirs()]) == []
    drafted = ours(status="drafted", erp_total=None)
    assert compare([drafted], [theirs(state="draft", number=None)]) == []
    assert compare([], [theirs("inv-9", state="draft")]) == []


def test_a_credit_note_compares_like_an_invoice() -> None:
    credit = ours("inv-c", credit_of="inv-1", subtotal=Decimal("-325"), erp_total=Decimal("-390"))
    assert compare([credit], [theirs("inv-c", subtotal="-325.00", total="-390.00")]) == []
    assert compare([credit], [theirs("inv-c", subtotal="-325.00", total="-380.00")]) == [
        (MismatchKind.AMOUNT_DIFFERS, "invoice:inv-c")
    ]


def test_an_invoice_whose_charges_do_not_sum_to_its_subtotal() -> None:
    assert compare_charges([ours(), ours("inv-2", charged=Decimal("1550"))]) == []
    [short] = compare_charges([ours(charged=Decimal("1549.99"), charges=2)])
    assert (short.kind, short.scope_key) == (MismatchKind.AMOUNT_DIFFERS, "invoice-charges:inv-1")
    assert short.source_value == "2 charges: GBP 1549.99"
    assert short.legal_entity_id == "le-uk"


def charge(charge_id: str, project_id: str, invoice_id: str | None) -> ChargeRecord:
    line = ChargeLine(
        id=charge_id, project_id=project_id, source=ChargeSource.TIME, source_id=charge_id,
        quantity=Decimal(1), rate=Money.of("100.00", "GBP"), amount=Money.of("100.00", "GBP"),
        bill_date=date(2026, 10, 12), period="2026-10", billable=True, holds=frozenset(),
    )  # fmt: skip
    return ChargeRecord(line, "invoiced", invoice_id)


def test_charges_invoiced_on_no_recorded_invoice_one_mismatch_per_project() -> None:
    found = unrecorded_invoices(
        [charge("chg-1", "prj-1", "inv-gone"), charge("chg-2", "prj-1", None),
         charge("chg-3", "prj-2", "inv-lost")]
    )  # fmt: skip
    assert [(m.kind, m.scope_key, m.item_ids) for m in found] == [
        (MismatchKind.MISSING_IN_TARGET, "charges:prj-1", ("chg-1", "chg-2")),
        (MismatchKind.MISSING_IN_TARGET, "charges:prj-2", ("chg-3",)),
    ]
    assert found[0].source_value == "2 charges invoiced: 200.00"
    assert found[0].target_value == "no recorded invoice inv-gone, none"
    assert found[0].legal_entity_id is None  # the project's entity, found when announced
