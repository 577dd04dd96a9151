"""PSA rate cards end to end: a card made in the sandbox PSA reaches staffing-sync by signed
webhooks (every one delivered twice) and by the polled ``rate-cards`` feed, and becomes exactly
one ``RateCardPublished`` per card version, which prices the next booking; a card changed
without a new version, and records that are no card (a forged but signed webhook, a role listed
twice), are set aside with why while valid cards flow; a card scoped to a project or a CRM
account waits for it; and the rate cards of a generated firm, seeded into the PSA, are
published as the canonical cards the firm holds. staffing-sync's api and worker run on real
PostgreSQL and RabbitMQ beside the in-process sandbox (``harness``)."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from typing import Any

from tandem_connectors.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from tandem_contracts import Envelope, ExternalRef, Money, SystemKind
from tandem_contracts.entities import Customer, RateCard, RateCardScope
from tandem_contracts.events import AccountUpserted
from tandem_sandbox import Store, seed
from tandem_sandbox.scenario import generate
from tandem_testing import eventually, sibling_module

flow = sibling_module(__file__, "harness.py", "staffing_sync_psa_rate_cards_harness")

HOME = {"home_legal_entity": "le-de", "entity_regions": {"le-de": "eu", "le-us": "us"}}
_LANDED = """
SELECT version, via, status, detail FROM connectors.inbound
WHERE system = 'psa' AND record_type = 'rate_card' AND record_id = $1 ORDER BY version
"""


async def landed(staffing: Any, record_id: str) -> list[dict[str, Any]]:
    """The versions of a PSA card staffing-sync landed: each once, however it came."""
    return [dict(row) for row in await staffing.pool.fetch(_LANDED, record_id)]


def card_body(rate: str, *versions: dict[str, Any], **more: Any) -> dict[str, Any]:
    """The firm's EUR card (external id ``std-eur``), for the consultant role at ``rate``."""
    first = {"effective_from": "2026-01-01", "default_rate": "150.00",
             "role_rates": [{"role": flow.ROLE, "bill_rate": rate}]}  # fmt: skip
    return {"name": "Standard EUR", "currency": "EUR", "external_id": "std-eur",
            "versions": list(versions) or [first]} | more  # fmt: skip


async def set_aside(staffing: Any, record_id: str, version: int) -> str:
    """Wait until that version of a card is set aside; answer why."""
    why: list[str] = []

    async def aside() -> bool:
        rows = {row["version"]: row for row in await landed(staffing, record_id)}
        row = rows.get(version)
        why[:] = [row["detail"]] if row is not None and row["status"] == "rejected" else []
        return bool(why)

    await eventually(aside, within=30, what=f"card {record_id} v{version} set aside")
    return why[0]


async def test_a_psa_card_is_published_once_per_version_and_prices_bookings(
    database_url: str, amqp_url: str
) -> None:
    async with flow.running(database_url, amqp_url, webhooks=True, **HOME) as staffing:
        # From now on the PSA delivers every webhook twice; its feed is polled as well.
        await staffing.faults(webhook_duplicate_pct=100)
        made = await flow.ok(await staffing.psa.post("/v1/rate-cards", json=card_body("175.00")))
        card_id = f"psa-{made['id']}"
        await staffing.announces(card_id, "RateCardPublished")

        async def delivered_twice() -> bool:
            counters: dict[str, int] = await staffing.counters()
            return counters.get("webhook_duplicated", 0) >= 1

        await eventually(delivered_twice, within=30, what="the card's webhook twice")
        await staffing.polled("rate-cards", made)
        [first] = await staffing.announced(card_id, "RateCardPublished")
        card = first.payload.rate_card
        assert (card.id, card.currency, card.scope, first.payload.published_version) == (
            card_id, "EUR", RateCardScope(), 1,
        )  # fmt: skip
        [row] = card.versions[0].role_rates
        assert (row.role_id, row.bill_rate) == (flow.ROLE, Money.of("175.00", "EUR"))
        assert card.refs[0].external_id == made["id"]
        assert (first.subject_version, first.legal_entity_id, first.data_residency_region) == (
            1, "le-de", "eu",
        )  # fmt: skip
        assert [(r["version"], r["status"]) for r in await landed(staffing, made["id"])] == [
            (1, "published")
        ]

        # The card prices a booking staffing-sync confirms (its own event, kept as any card).
        await staffing.announce(flow.onboarded("w-a", "le-de"))
        project = await flow.ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Rollout", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        await staffing.announce(flow.activated("p-1", project["id"]))
        resource = await staffing.resource("w-a")
        booked = await staffing.book(project["id"], resource, "2026-04-06", "2026-04-17")
        await staffing.announces(booked, "AssignmentConfirmed")
        [confirmed] = await staffing.announced(booked, "AssignmentConfirmed")
        assignment = confirmed.payload.assignment
        assert assignment.bill_rate == Money.of("175.00", "EUR")
        assert (assignment.rate_source.rate_card_id, assignment.rate_source.rate_card_version) == (
            card_id, 1,
        )  # fmt: skip

        # A version added in the PSA (the first closed before it): published at it, once.
        closed = {**card_body("175.00")["versions"][0], "effective_to": "2026-06-30"}
        raised = [{"role": flow.ROLE, "bill_rate": "190.00"}]
        later = {"effective_from": "2026-07-01", "role_rates": raised}
        added = await flow.ok(await staffing.psa.post(
            "/v1/rate-cards", json=card_body("175.00", closed, later)
        ))  # fmt: skip
        assert added["id"] == made["id"]
        await staffing.announces(card_id, "RateCardPublished", count=2)
        await staffing.polled("rate-cards", added)
        both = await staffing.announced(card_id, "RateCardPublished")
        assert [(e.subject_version, e.payload.published_version) for e in both] == [(1, 1), (2, 2)]

        # A rate rewritten in place (no new version): set aside with why, nothing published...
        rewritten = {**later, "role_rates": [{"role": flow.ROLE, "bill_rate": "210.00"}]}
        await flow.ok(await staffing.psa.post(
            "/v1/rate-cards", json=card_body("175.00", closed, rewritten)
        ))  # fmt: skip
        why = await set_aside(staffing, made["id"], 3)
        assert "changed without a newer version" in why
        # ...and the next version of the card flows all the same.
        third = {"effective_from": "2026-10-01", "default_rate": "160.00"}
        fixed = await flow.ok(await staffing.psa.post(
            "/v1/rate-cards", json=card_body("175.00", closed, rewritten, third)
        ))  # fmt: skip
        await staffing.announces(card_id, "RateCardPublished", count=3)
        await staffing.polled("rate-cards", fixed)
        published = await staffing.announced(card_id, "RateCardPublished")
        assert [(e.subject_version, e.payload.published_version) for e in published] == [
            (1, 1), (2, 2), (3, 3),
        ]  # fmt: skip


async def test_records_that_are_no_card_are_set_aside_while_valid_cards_flow(
    database_url: str, amqp_url: str
) -> None:
    async with flow.running(database_url, amqp_url, webhooks=True, **HOME) as staffing:
        # A signed webhook (its sender holds the secret) carrying a card Tandem cannot read: a
        # rate as a JSON number, a scope no card has.
        now = datetime.now(UTC).isoformat()
        forged = {
            "id": "rcd_forged", "version": 1, "name": "Odd", "currency": "EUR",
            "scope": {"country_id": "DE"}, "updated_at": now,
            "versions": [{"effective_from": "2026-01-01", "default_rate": 150.5}],
        }  # fmt: skip
        body = json.dumps({
            "id": "evt_forged", "type": "rate_card.created", "occurred_at": now,
            "subject": {"type": "rate_card", "id": "rcd_forged"}, "data": forged,
        }).encode()  # fmt: skip
        signature = sign(flow.SECRET.encode(), body, int(time.time()), delivery="d-forged")
        answer = await staffing.api.post("/v1/inbound/psa/psa", content=body, headers={
            SIGNATURE_HEADER: signature, DELIVERY_HEADER: "d-forged",
            "content-type": "application/json",
        })  # fmt: skip
        assert answer.status_code == 202, answer.text
        # A card the PSA takes but that is no canonical card: one role listed twice.
        twice = [{"role": flow.ROLE, "bill_rate": "170.00"}, {"role": flow.ROLE,
                                                              "bill_rate": "180.00"}]  # fmt: skip
        odd = await flow.ok(await staffing.psa.post("/v1/rate-cards", json={
            "name": "Twice", "currency": "EUR",
            "versions": [{"effective_from": "2026-01-01", "role_rates": twice}],
        }))  # fmt: skip
        valid = await flow.ok(await staffing.psa.post("/v1/rate-cards", json=card_body("175.00")))

        assert "the scope names 'country_id'" in await set_aside(staffing, "rcd_forged", 1)
        assert "is listed twice in version 1" in await set_aside(staffing, odd["id"], 1)
        await staffing.announces(f"psa-{valid['id']}", "RateCardPublished")
        await staffing.polled("rate-cards", valid)
        assert await staffing.announced("psa-rcd_forged", "RateCardPublished") == []
        assert await staffing.announced(f"psa-{odd['id']}", "RateCardPublished") == []


async def test_a_card_of_a_project_or_an_account_waits_for_it(
    database_url: str, amqp_url: str
) -> None:
    async with flow.running(database_url, amqp_url, **HOME) as staffing:
        project = await flow.ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Rollout", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        of_project = await flow.ok(await staffing.psa.post(
            "/v1/rate-cards", json=card_body("180.00", scope={"project_id": project["id"]})
            | {"external_id": "rollout"},
        ))  # fmt: skip
        of_account = await flow.ok(await staffing.psa.post(
            "/v1/rate-cards", json=card_body("165.00", scope={"account_id": "acc-9"})
            | {"external_id": "acme-msa"},
        ))  # fmt: skip

        async def both_wait() -> bool:
            details = [
                (await landed(staffing, made["id"]) or [{}])[0].get("detail") or ""
                for made in (of_project, of_account)
            ]
            return "waits for PSA project" in details[0] and "waits for CRM account" in details[1]

        await eventually(both_wait, within=30, what="both cards waiting, saying for what")
        assert await staffing.announced(f"psa-{of_project['id']}", "RateCardPublished") == []

        # The project activated and the account upserted (as project-sync announces them):
        # each card is published, scoped to the canonical one, under its legal entity.
        await staffing.announce(flow.activated("p-1", project["id"]), upserted("acc-9", "le-us"))
        await staffing.announces(f"psa-{of_project['id']}", "RateCardPublished")
        await staffing.announces(f"psa-{of_account['id']}", "RateCardPublished")
        [by_project] = await staffing.announced(f"psa-{of_project['id']}", "RateCardPublished")
        [by_account] = await staffing.announced(f"psa-{of_account['id']}", "RateCardPublished")
        assert by_project.payload.rate_card.scope == RateCardScope(project_id="p-1")
        assert by_project.legal_entity_id == "le-de"
        assert by_account.payload.rate_card.scope == RateCardScope(account_id="crm-acc-9")
        assert (by_account.legal_entity_id, by_account.data_residency_region) == ("le-us", "us")


async def test_a_firms_cards_seeded_into_the_psa_are_published_as_the_firm_holds_them(
    database_url: str, amqp_url: str
) -> None:
    firm = generate(7)
    async with flow.running(database_url, amqp_url, **HOME) as staffing:
        # The firm's customers as project-sync announces them (canonical ids of the CRM's).
        await staffing.announce(*(upserted(c.id, c.legal_entity_id, c) for c in firm.customers))
        # The PSA seeded with the firm's rate cards only (no webhook: the poll reads them).
        cards_only = dataclasses.replace(
            firm, projects=(), work_items=(), resources=(), assignments=(), time_entries=(),
            timesheets=(), expenses=(), resource_requests=(),
        )  # fmt: skip
        await seed(Store(staffing.pool), cards_only, ("psa",))
        expected = {f"psa-{card.id}": _as_published(card) for card in firm.rate_cards}

        async def all_published() -> bool:
            for card_id in expected:
                if not await staffing.announced(card_id, "RateCardPublished"):
                    return False
            return True

        await eventually(all_published, within=60, what=f"{len(expected)} cards published")
        for card_id, card in expected.items():
            [published] = await staffing.announced(card_id, "RateCardPublished")
            assert published.payload.rate_card == card
            assert published.payload.published_version == max(v.version for v in card.versions)


def _as_published(card: RateCard) -> RateCard:
    """The firm's card as staffing-sync publishes it from the PSA: named by the PSA's id, its
    account the customer project-sync made of the CRM's, its PSA record referenced."""
    ref = ExternalRef(system=SystemKind.PSA, instance="psa", object_type="rate_card",
                      external_id=card.id)  # fmt: skip
    account = card.scope.account_id
    scope = card.scope.model_copy(update={"account_id": f"crm-{account}" if account else None})
    return card.model_copy(update={"id": f"psa-{card.id}", "scope": scope, "refs": (ref,)})


def upserted(account: str, entity: str, customer: Customer | None = None) -> Envelope[Any]:
    """``AccountUpserted`` of the CRM account, as project-sync announces it."""
    ref = ExternalRef(system=SystemKind.CRM, instance="crm", object_type="account",
                      external_id=account)  # fmt: skip
    base = customer or Customer.model_validate({
        "id": "c", "name": "Acme", "legal_entity_id": entity, "country": "US", "currency": "USD",
        "tax_profile": {"country": "US"},
    })  # fmt: skip
    named = base.model_copy(update={"id": f"crm-{account}", "refs": (ref,)})
    event = AccountUpserted(customer=named, upserted_at=datetime.now(UTC))
    announced: Envelope[Any] = flow.envelope(event, 1, entity, service="project-sync")
    return announced
