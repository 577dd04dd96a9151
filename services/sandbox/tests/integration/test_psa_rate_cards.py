"""The sandbox PSA's rate cards: a card with its scope and numbered, discounted versions, made
once by its external id and changed by posting it again (a new record version, in the change
feed); a card without the newer fields reads as before; version numbers given twice refused;
and a generated firm's cards seeded with their scope and version numbers."""

from __future__ import annotations

from typing import Any

import httpx

from tandem_sandbox import Sandbox, seed
from tandem_sandbox.scenario import generate

CARD = {
    "name": "Data premium EUR", "currency": "EUR", "external_id": "data-eur",
    "scope": {"practice_id": "ou-data"},
    "versions": [{"version": 3, "effective_from": "2026-01-01", "default_rate": "150.00",
                  "discount_pct": "5", "role_rates": [{"role": "senior-consultant",
                                                       "bill_rate": "210.00"}]}],
}  # fmt: skip


async def test_a_card_is_scoped_numbered_and_changed_by_its_external_id(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        made = await client.post("/v1/rate-cards", json=CARD)
        again = await client.post("/v1/rate-cards", json=CARD)
        later = {"version": 4, "effective_from": "2026-07-01", "default_rate": "160.00"}
        changed = await client.post(
            "/v1/rate-cards", json=CARD | {"versions": [*CARD["versions"], later]}
        )
        plain = await client.post("/v1/rate-cards", json={
            "name": "Standard EUR", "currency": "EUR",
            "versions": [{"effective_from": "2026-01-01", "default_rate": "150.00"}],
        })  # fmt: skip
        twice = await client.post(
            "/v1/rate-cards", json=CARD | {"external_id": "x", "versions": [later, later]}
        )
        odd_scope = await client.post(
            "/v1/rate-cards", json=CARD | {"external_id": "y", "scope": {"country": "DE"}}
        )
        events = (await client.get("/v1/events", params={"limit": 200})).json()["events"]

    card = made.json()
    assert (made.status_code, again.status_code, again.json()["version"]) == (201, 200, 1)
    assert card["scope"] == {"project_id": None, "account_id": None, "region_id": None,
                             "practice_id": "ou-data", "group_id": None}  # fmt: skip
    [version] = card["versions"]
    assert (version["version"], version["discount_pct"], version["default_rate"]) == (
        3, "5", "150.00",
    )  # fmt: skip
    assert (changed.status_code, changed.json()["id"], changed.json()["version"]) == (
        200, card["id"], 2,
    )  # fmt: skip
    assert [v["version"] for v in changed.json()["versions"]] == [3, 4]
    shown = plain.json()
    assert shown["scope"] == dict.fromkeys(
        ("project_id", "account_id", "region_id", "practice_id", "group_id")
    )
    assert (shown["versions"][0]["version"], shown["versions"][0]["discount_pct"]) == (None, None)
    assert twice.status_code == 422
    assert "a version number is given twice" in twice.text
    assert odd_scope.status_code == 422
    cards = [(e["type"], e["data"]["version"]) for e in events if e["subject"]["id"] == card["id"]]
    assert cards == [("rate_card.created", 1), ("rate_card.updated", 2)]


async def test_a_firms_cards_are_seeded_with_their_scope_and_numbered_versions(
    sandbox: Sandbox,
) -> None:
    firm = generate(7)
    await seed(sandbox.store, firm, ("psa",))
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        shown: dict[str, dict[str, Any]] = {}
        for card in firm.rate_cards:
            shown[card.id] = (await client.get(f"/v1/rate-cards/{card.id}")).json()
    for card in firm.rate_cards:
        record = shown[card.id]
        assert record["scope"] == card.scope.model_dump(mode="json")
        assert [(v["version"], v["effective_from"]) for v in record["versions"]] == [
            (v.version, v.effective_from.isoformat()) for v in card.versions
        ]
        assert [v["discount_pct"] for v in record["versions"]] == [
            str(v.discount_pct) for v in card.versions
        ]
