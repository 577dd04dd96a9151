"""Month-end billing on the real Tryton ERP, with faults (issue 16, "Prove it").

Tryton holds two companies, le-uk (GBP, GB) and le-de (EUR, DE), and four customers made
through the adapter: GB, GB on credit hold, DE (19 % domestic) and a French business with a
validated VAT id (reverse charge from le-de). Six projects bill the last month that ended
(October 2026 when written): T&M (GBP, four rates, two le-de consultants: intercompany), capped
T&M (GBP, the cap crossed mid-month), retainer (GBP), T&M for the customer on credit hold, fixed
fee (EUR, a quarter's schedule), milestones (EUR, French customer: one approved for billing,
one only completed). About 190 seeded random entries in quarter hours, rebillable expenses with
markup and the milestones are published as time-expense and project-sync publish them.

Faults: billing-readiness's worker is SIGKILLed while it charges (the rest of the month posted
while it is down); Tryton is stopped while the proposed invoices are drafted, then restarted
(they drain); the credit hold is released later (invoiced then); one entry is reversed after
invoicing (a credit note). Every expectation is computed here from the generated data, never
by the service's domain code, and compared with what Tryton holds, to the cent.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from billing_readiness.bootstrap import DEFINITION
from tandem_connectors.tryton import TrytonClient
from tandem_contracts import Envelope, Money
from tandem_contracts.entities import BillingModel, MilestoneStatus
from tandem_service_kit import apply_migrations
from tandem_testing import TrytonServer, eventually

from .billing_readiness_harness import (
    ENTITIES,
    ERP_INSTANCE,
    KEY,
    Billing,
    BillingDeployment,
    account,
    activated,
    billing_deployment,
    customer,
    expense_posted,
    in_tryton,
    milestone_completed,
    publish,
    sow,
    time_posted,
    tryton_invoices,
)
from .harness import worker_metric
from .project_sync_harness import restarted, tryton_answers, wait_tryton

SEED = 16
TODAY = date.today()
MONTH_END = TODAY.replace(day=1) - timedelta(days=1)
MONTH = MONTH_END.replace(day=1)  # the last month that ended: the one billed
QUARTER_END = (MONTH + timedelta(days=95)).replace(day=1) - timedelta(days=1)
CENT = Decimal("0.01")
COST_RATE = Decimal("71.17")  # a le-de consultant's hourly cost, EUR
MARKUP = Decimal("1.10")  # the intercompany transfer price: cost x 1.10
RETAINER = Decimal("5000.00")
FEE = Decimal("10000.00")  # the fixed fee of the quarter from MONTH: a third each month
MILESTONE = Decimal("12500.00")
CAP_ROOM = Decimal("82.34")  # the cap: the first half-month's capped T&M, and this
# What billing-readiness expected of an invoice and recorded of the ERP's (reconciliation).
_KEPT = ("subtotal", "tax_total", "total", "erp_subtotal", "erp_tax_total", "erp_total",
         "number", "erp_id")  # fmt: skip
_KEPT_FIRST = """SELECT (SELECT count(*) FROM billing_readiness.customers) AS customers,
    (SELECT count(*) FROM billing_readiness.contracts) AS contracts"""


class Plan(NamedTuple):
    customer: str
    entity: str
    model: BillingModel
    tax_pct: Decimal  # the seller's VAT on its customer: GB 20, DE 19, reverse charge 0


PROJECTS = {
    "p-tm": Plan("c-gb", "le-uk", BillingModel.TIME_AND_MATERIALS, Decimal(20)),
    "p-cap": Plan("c-gb", "le-uk", BillingModel.CAPPED_TM, Decimal(20)),
    "p-ret": Plan("c-gb", "le-uk", BillingModel.RETAINER, Decimal(20)),
    "p-hold": Plan("c-hold", "le-uk", BillingModel.TIME_AND_MATERIALS, Decimal(20)),
    "p-fix": Plan("c-de", "le-de", BillingModel.FIXED_FEE, Decimal(19)),
    "p-ms": Plan("c-fr", "le-de", BillingModel.MILESTONE, Decimal(0)),
}
CONTRACTS = {"p-cap": None, "p-ret": RETAINER, "p-fix": FEE, "p-ms": Decimal("30500.00")}
CUSTOMERS = {
    "c-gb": customer("c-gb", "le-uk", "GB", "GBP"),
    "c-hold": customer("c-hold", "le-uk", "GB", "GBP", on_hold=True),
    "c-de": customer("c-de", "le-de", "DE", "EUR", vat_id="DE136695976"),
    "c-fr": customer("c-fr", "le-de", "FR", "EUR", vat_id="FR40303265045"),
}
# worker -> (employer, project, bill rate in the project's currency); one rate on the capped
# and the retainer projects, so that where the cap or the retainer cuts does not move money
# between lines whatever the order the entries are charged in
TEAM = {
    "w-uk-1": ("le-uk", "p-tm", "150.00"), "w-uk-2": ("le-uk", "p-tm", "133.33"),
    "w-uk-3": ("le-uk", "p-tm", "187.50"), "w-de-1": ("le-de", "p-tm", "120.00"),
    "w-de-2": ("le-de", "p-tm", "120.00"), "w-uk-4": ("le-uk", "p-cap", "140.00"),
    "w-uk-5": ("le-uk", "p-ret", "110.00"), "w-uk-6": ("le-uk", "p-hold", "133.33"),
    "w-de-3": ("le-de", "p-fix", "160.00"), "w-de-4": ("le-de", "p-ms", "175.00"),
}  # fmt: skip
EXPENSES = [  # id, project, amount, markup, category
    ("ex-1", "p-tm", "412.37", "1.10", "travel"),
    ("ex-2", "p-tm", "89.90", "1.10", "travel"),
    ("ex-3", "p-tm", "38.70", "1.15", "meals"),  # 44.505: half-up 44.51
    ("ex-4", "p-fix", "245.00", "1.10", "travel"),  # 269.50, its 19 % 51.205: half-even 51.20
    ("ex-5", "p-fix", "99.99", "1.05", "software"),
    ("ex-6", "p-ms", "310.45", "1.10", "travel"),
]


class Entry(NamedTuple):
    id: str
    worker: str
    entity: str
    project: str
    day: date
    minutes: int
    rate: Decimal
    cost: Decimal | None  # EUR, when the worker's employer is not the project's


@dataclass(frozen=True)
class Expected:
    """An invoice as the test computes it: its line amounts (None: not compared), totals."""

    lines: tuple[Decimal, ...] | None
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def up(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def currency_of(project: str) -> str:
    return ENTITIES[PROJECTS[project].entity].functional_currency


def worth(entry: Entry) -> Decimal:
    """A charge: minutes x rate / 60, rounded half-up once."""
    return up(entry.minutes * entry.rate / 60)


def month_of_time() -> list[Entry]:
    """Each weekday of the month, most of the team log a day of 1 to 9 hours, by the quarter."""
    rng, day = random.Random(SEED), MONTH
    entries: list[Entry] = []
    while day <= MONTH_END:
        for worker, (entity, project, rate) in TEAM.items():
            if day.weekday() < 5 and rng.random() < 0.9:
                minutes = 15 * rng.randint(4, 36)
                ic = entity != PROJECTS[project].entity
                cost = up(minutes * COST_RATE / 60) if ic else None
                entries.append(Entry(f"te-{len(entries):03d}", worker, entity, project, day,
                                     minutes, Decimal(rate), cost))  # fmt: skip
        day += timedelta(days=1)
    return entries


def invoice_of(lines: list[Decimal], tax_pct: Decimal, *, compare_lines: bool = True) -> Expected:
    """Tax per line, rounded half-even at the seller's rate; total = subtotal + tax."""
    tax = sum((
        (line * tax_pct / 100).quantize(CENT, rounding=ROUND_HALF_EVEN) for line in lines
    ), Decimal(0))  # fmt: skip
    subtotal = sum(lines, Decimal(0))
    shown = tuple(sorted(lines)) if compare_lines else None
    return Expected(shown, subtotal, tax, subtotal + tax)


def expectations(entries: list[Entry], reversed_: Entry) -> dict[tuple[str, str], Expected]:
    """Per (project, seller or "credit"): the invoice the month should come to."""
    time: dict[str, dict[Decimal, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for entry in entries:
        time[entry.project][entry.rate] += worth(entry)
    spent: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for _, project, amount, markup, category in EXPENSES:
        spent[project][category] += up(Decimal(amount) * Decimal(markup))

    def billed(project: str, *lines: Decimal) -> Expected:
        return invoice_of([*lines, *spent[project].values()], PROJECTS[project].tax_pct)

    retainer_time = sum(time["p-ret"].values(), Decimal(0))
    transfer = [up(e.cost * MARKUP) for e in entries if e.cost is not None]
    return {
        ("p-tm", "le-uk"): billed("p-tm", *time["p-tm"].values()),
        ("p-hold", "le-uk"): billed("p-hold", *time["p-hold"].values()),
        ("p-ret", "le-uk"): billed("p-ret", RETAINER, retainer_time - RETAINER),
        ("p-fix", "le-de"): billed("p-fix", (FEE / 3).quantize(CENT, rounding=ROUND_DOWN)),
        ("p-ms", "le-de"): billed("p-ms", MILESTONE),
        # The sister entity's invoice: one line per transfer rate, untaxed.
        ("p-tm", "le-de"): invoice_of(transfer, Decimal(0), compare_lines=False),
        ("p-tm", "credit"): invoice_of([-worth(reversed_)], PROJECTS["p-tm"].tax_pct),
    }


def postings(entries: list[Entry]) -> list[Envelope[Any]]:
    """The month as its producers publish it, day by day."""
    dated: list[tuple[date, Envelope[Any]]] = []
    for e in entries:
        project = PROJECTS[e.project]
        rate = Money(amount=e.rate, currency=currency_of(e.project))
        cost = Money(amount=e.cost, currency="EUR") if e.cost is not None else None
        dated.append((e.day, time_posted(
            e.id, e.project, e.worker, e.minutes, rate, on=e.day, worker_entity=e.entity,
            project_entity=project.entity, cost=cost,
        )))  # fmt: skip
    for n, (expense, project_id, amount, markup, category) in enumerate(EXPENSES):
        on, entity = MONTH + timedelta(days=8 + 2 * n), PROJECTS[project_id].entity
        money = Money(amount=Decimal(amount), currency=currency_of(project_id))
        event = expense_posted(expense, project_id, entity, money, Decimal(markup), category,
                               on=on)  # fmt: skip
        dated.append((on, event))
    for milestone, value, status, on in (
        ("m-1", MILESTONE, MilestoneStatus.APPROVED_FOR_BILLING, MONTH + timedelta(days=19)),
        ("m-2", Decimal("18000.00"), MilestoneStatus.COMPLETED, MONTH_END),  # not approved
    ):
        money = Money(amount=value, currency="EUR")
        dated.append((on, milestone_completed(milestone, "p-ms", "le-de", money, status, on=on)))
    return [envelope for _, envelope in sorted(dated, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class Month:
    """The generated month and what the test expects of it."""

    entries: list[Entry]
    cap: Decimal
    reversed: Entry  # posted, invoiced, then reversed: a credit note
    expected: dict[tuple[str, str], Expected]
    charges: int  # how many charges billing-readiness makes of it (the reversal apart)


def the_month() -> Month:
    """The seeded month, its cap, the entry to reverse, and the invoices it should make."""
    entries = month_of_time()
    assert 150 <= len(entries) <= 250, len(entries)
    # The cap: crossed by the first entry charged after mid-month.
    cap = sum((worth(e) for e in entries if e.project == "p-cap" and e.day.day <= 15), CAP_ROOM)
    assert sum(worth(e) for e in entries if e.project == "p-cap") > cap
    assert sum(worth(e) for e in entries if e.project == "p-ret") > RETAINER
    # A le-uk consultant's entry on the T&M project, an odd number of quarters at 133.33.
    reversed_ = next(e for e in entries if e.rate == Decimal("133.33") and e.minutes % 30)
    # Each entry one charge, le-de's on p-tm an intercompany one besides, the entries crossing
    # the cap and the retainer two; the expenses, milestone m-1, the fixed fee's three
    # instalments and the retainer's one.
    charges = len(entries) + sum(1 for e in entries if e.cost) + 2 + len(EXPENSES) + 1 + 3 + 1
    expected = expectations(entries, reversed_)
    # The capped project is invoiced up to its cap (one rate: one line), its overage held.
    expected[("p-cap", "le-uk")] = invoice_of([cap], PROJECTS["p-cap"].tax_pct)
    return Month(entries, cap, reversed_, expected, charges)


async def test_month_end_billing_story_on_tryton_with_faults(
    database_url: str, amqp_url: str, tryton: TrytonServer, tmp_path: Path
) -> None:
    month = the_month()
    companies, parties = await in_tryton(tryton, list(CUSTOMERS.values()))
    await apply_migrations(database_url, DEFINITION.migrations)
    billing = billing_deployment(tryton, database_url, amqp_url, tmp_path)
    try:
        billing.start("api")
        billing.start("worker")
        await billing.wait_api()
        await billing.wait_worker_consuming()
        async with httpx.AsyncClient(base_url=billing.api_url, headers={"X-API-Key": KEY},
                                     timeout=30) as api:  # fmt: skip
            story = Billing(api, database_url)
            await _reference(story, amqp_url, month.cap)
            # The month is posted; the worker is SIGKILLed while it charges the first part,
            # the rest posted while it is down.
            posted = postings(month.entries)
            first = len(posted) * 3 // 5
            await publish(amqp_url, *posted[:first])
            await eventually(lambda: story.charged_at_least(10), within=30, what="charging")
            billing.kill("worker")
            assert await story.sources() < first, "the kill must land while the charges are made"
            await publish(amqp_url, *posted[first:])
            billing.start("worker")
            await billing.wait_worker_consuming()
            made = await story.charged(month.charges)
            assert len(made) == month.charges, "a charge made twice or never"
            await _invoice_through_an_outage(story, billing, tryton, tmp_path, month,
                                             companies, parties)  # fmt: skip
    finally:
        billing.stop()


async def _reference(story: Billing, amqp_url: str, cap: Decimal) -> None:
    """The customers and contracts, then the projects (as a firm has them: the contract is
    approved before its project is activated), kept before any time posts."""
    contracts = []
    for name, value in CONTRACTS.items():
        plan, currency = PROJECTS[name], currency_of(name)
        ceiling = Money(amount=cap, currency=currency) if name == "p-cap" else None
        contracts.append(sow(
            name, plan.customer, plan.entity, plan.model,
            Money(amount=value or cap, currency=currency), start=MONTH,
            end=QUARTER_END if name == "p-fix" else None, cap=ceiling,
        ))  # fmt: skip
    await publish(amqp_url, *[account(c, 1) for c in CUSTOMERS.values()], *contracts)

    async def counted() -> bool:
        [row] = await story.fetch(_KEPT_FIRST)
        return (row["customers"], row["contracts"]) == (len(CUSTOMERS), len(CONTRACTS))

    await eventually(counted, what="the customers and contracts kept")
    await publish(amqp_url, *[
        activated(name, plan.customer, plan.entity, currency_of(name), plan.model,
                  start=MONTH, contract=name in CONTRACTS)
        for name, plan in PROJECTS.items()
    ])  # fmt: skip

    async def kept() -> bool:  # with their contracts' terms, the fee schedules charged
        for name in PROJECTS:
            answer = await story.api.get(f"/v1/projects/{name}/billing")
            if not answer.is_success or (name in CONTRACTS) != bool(answer.json()["total_value"]):
                return False
        scheduled = await story.charges(project_id="p-fix")
        return len(scheduled) == 3 and len(await story.charges(project_id="p-ret")) == 1

    await eventually(kept, within=30, what="billing-readiness to keep the projects")


async def _invoice_through_an_outage(
    story: Billing, billing: BillingDeployment, tryton: TrytonServer, logs: Path, month: Month,
    companies: dict[str, str], parties: dict[str, str],
) -> None:  # fmt: skip
    outcome = await story.readiness()
    proposed = {p: [i for i in ids if i.startswith("inv-")] for p, ids in outcome.items()}
    assert {p for p, ids in proposed.items() if ids} == {"p-tm", "p-ret", "p-fix", "p-ms", "p-cap"}
    assert len(proposed["p-tm"]) == 2, outcome  # the customer's, and le-de's to le-uk
    assert len(proposed["p-cap"]) == 1, outcome  # within the cap; the overage waits
    assert "credit_hold" in outcome["p-hold"], outcome
    first = {i for ids in proposed.values() for i in ids}
    # Tryton stops once the first invoice is in: the others are being drafted.
    await eventually(story.any_posted, within=30, what="an invoice posted", every=0.02)
    tryton.stop()
    assert not await tryton_answers(tryton.url)
    posted = await story.posted_ids()
    assert first - posted, "the outage must land while the invoices are drafted"

    async def held() -> bool:  # held for the ERP, never parked
        failed = "tandem_messages_failed_total"
        return await worker_metric(billing, "worker", failed, failure="downstream") > 0

    await eventually(held, within=30, what="the outage to hold the invoices")
    with restarted(tryton, logs / "trytond-restarted.log") as back:
        await wait_tryton(back.url)
        await story.posted(first)
        await _release_and_reverse(story, billing.amqp_url, month)
        async with TrytonClient(back.url, back.database, back.user, back.password,
                                instance=ERP_INSTANCE) as client:  # fmt: skip
            sister = await _check_tryton(story, client, month, companies, parties)
    await _check_charges(story, month)
    # le-de's intercompany invoice is made out to le-uk's own party in Tryton (its
    # company's, code "le-uk"), never to a second party for the same company.
    assert sister == "le-uk", f"le-de invoices {sister!r}, not le-uk's company party"


async def _release_and_reverse(story: Billing, amqp_url: str, month: Month) -> None:
    # The customer on credit hold is released (a newer version, active): invoiced.
    await publish(amqp_url, account(customer("c-hold", "le-uk", "GB", "GBP"), 2))

    async def released() -> bool:
        return not await story.charges(project_id="p-hold", held="true")

    await eventually(released, within=30, what="the credit hold lifted")
    [held_invoice] = (await story.readiness())["p-hold"]
    await story.posted({held_invoice})
    # One entry reversed after invoicing: a credit note.
    entry = month.reversed
    rate = Money(amount=entry.rate, currency="GBP")
    await publish(amqp_url, time_posted(
        entry.id, "p-tm", entry.worker, entry.minutes, rate, on=entry.day,
        worker_entity="le-uk", project_entity="le-uk", reversal_on=TODAY,
    ))  # fmt: skip
    await story.charged(month.charges + 1)
    [credit] = (await story.readiness())["p-tm"]
    await story.posted({credit})


async def _check_tryton(
    story: Billing, client: TrytonClient, month: Month, companies: dict[str, str],
    parties: dict[str, str],
) -> str:  # fmt: skip
    """Each invoice in Tryton against the test's figures and billing-readiness's records;
    answer the code of the party le-de's intercompany invoice is made out to."""
    expected, recorded = month.expected, await story.recorded()
    # Dated by the worker's clock when posted: a run that crosses midnight dates them after
    # the TODAY it started with.
    references, tryton = await tryton_invoices(client, companies, MONTH, date.today())
    # One Tryton invoice per invoice id, none duplicated, none Tandem did not propose.
    assert Counter(references) == Counter(list(recorded)), references
    made: dict[tuple[str, str], str] = {}
    for invoice_id, record in recorded.items():
        seller = record["seller_entity"]
        which = (record["project_id"], "credit" if record["credit_of"] else seller)
        made[which] = invoice_id
        want, found = expected[which], tryton[invoice_id]
        got = found.invoice
        lines = tuple(sorted(m.amount for m in got.lines.values()))
        amounts = (lines if want.lines is not None else None, got.subtotal.amount,
                   got.tax_total.amount, got.total.amount)  # fmt: skip
        assert amounts == (want.lines, want.subtotal, want.tax, want.total), which
        assert (found.entity, got.state, bool(got.number)) == (seller, "posted", True), which
        # Reconciliation: what billing-readiness expected and recorded of the ERP is Tryton's.
        kept = tuple(record[k] for k in _KEPT)
        assert kept == (*amounts[1:], *amounts[1:], got.number, got.ref.external_id), which
        if not record["customer_id"].startswith("entity:"):
            assert found.party == int(parties[record["customer_id"]]), which
    assert set(made) == set(expected), "an invoice missing or unexpected"
    # The customer's invoice of p-tm bills le-de's consultants' time at their bill rate.
    de_time = sum((worth(e) for e in month.entries if e.cost), Decimal(0))
    customers = tryton[made[("p-tm", "le-uk")]].invoice
    assert de_time in {m.amount for m in customers.lines.values()}, customers
    # The French customer is invoiced under reverse charge, with the mention and its VAT id.
    mention = tryton[made[("p-ms", "le-de")]].comment
    assert "Reverse charge" in mention, mention
    assert "FR40303265045" in mention, mention
    assert recorded[made[("p-tm", "credit")]]["credit_of"] == made[("p-tm", "le-uk")]
    [credited] = await story.announced("InvoiceCredited")
    assert credited.payload.credited_invoice_id == made[("p-tm", "le-uk")]
    assert len(await story.announced("InvoicePosted")) == len(expected) - 1
    return tryton[made[("p-tm", "le-de")]].party_code


async def _check_charges(story: Billing, month: Month) -> None:
    charges, recorded = await story.charges(), await story.recorded()
    on = Counter(c for r in recorded.values() for c in r["proposal"]["charge_ids"])
    assert [c for c, n in on.items() if n > 1] == [], "a charge on two invoices"
    current = f"{TODAY:%Y-%m}"
    for c in charges:
        due = c["billable"] and not c["holds"] and (c["period"] < current or c["reverses"])
        # Every billable, unheld charge of an ended period (and every reversal of an invoiced
        # one) on exactly one invoice, the one it names; nothing else on any.
        assert (c["status"], on[c["charge_id"]]) == (("invoiced", 1) if due else ("open", 0)), c
        if due:
            assert c["charge_id"] in recorded[c["invoice_id"]]["proposal"]["charge_ids"], c
    # The cap: the overage held, open, on no invoice, waiting for a person's decision; the part
    # within it is the cap, invoiced (a hold on one charge sets that charge aside only).
    capped = [c for c in charges if c["project_id"] == "p-cap"]
    over = [c for c in capped if c["holds"]]
    assert {(tuple(c["holds"]), c["status"], c["invoice_id"]) for c in over} == {
        (("cap_reached",), "open", None)
    }
    worked = sum((worth(e) for e in month.entries if e.project == "p-cap"), Decimal(0))
    assert (_sum(capped), _sum(over)) == (worked, worked - month.cap)
    assert not any(on[c["charge_id"]] for c in over)
    assert all(on[c["charge_id"]] == 1 for c in capped if not c["holds"])
    released = {e.payload.charge_id for e in await story.announced("ChargeReleased")}
    assert {c["charge_id"] for c in charges if c["project_id"] == "p-hold"} <= released


def _sum(charges: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(c["amount"]["amount"]) for c in charges), Decimal(0))
