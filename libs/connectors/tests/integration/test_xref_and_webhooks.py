"""The cross-reference store and signed webhooks, against a real PostgreSQL."""

import time

import pytest

from tandem_connectors.webhooks import WebhookRejected, accept_webhook, sign
from tandem_connectors.xref import CrossReferences, XrefConflict
from tandem_contracts import ExternalRef, SystemKind

ERP_US = {"system": "erp", "instance": "tryton-us", "object_type": "project.work"}


def ref(external_id: str) -> ExternalRef:
    return ExternalRef(
        system=SystemKind.ERP,
        instance="tryton-us",
        object_type="project.work",
        external_id=external_id,
    )


async def test_links_resolve_both_ways_and_relinking_the_same_pair_is_idempotent(pool) -> None:
    async with pool.acquire() as db:
        xref = CrossReferences(db)
        await xref.link("project", "prj-1", ref("17"))
        await xref.link("project", "prj-1", ref("17"))  # a redelivered event: no error
        assert await xref.external_id("project", "prj-1", **ERP_US) == "17"
        assert await xref.canonical_id("project", **ERP_US, external_id="17") == "prj-1"
        assert await xref.external_id("project", "prj-2", **ERP_US) is None
        count = await db.fetchval("SELECT count(*) FROM connectors.external_refs")
    assert count == 1


async def test_an_external_record_belongs_to_one_canonical_entity(pool) -> None:
    async with pool.acquire() as db:
        xref = CrossReferences(db)
        await xref.link("project", "prj-1", ref("17"))
        # The same ERP record claimed by another project: refused, permanent.
        with pytest.raises(XrefConflict, match="linked to another project"):
            await xref.link("project", "prj-2", ref("17"))
        # The same project given a second ERP record in the same instance: refused.
        with pytest.raises(XrefConflict, match=r"already has a project\.work"):
            await xref.link("project", "prj-1", ref("18"))
        assert await xref.canonical_id("project", **ERP_US, external_id="17") == "prj-1"


async def test_a_failed_sync_is_recorded_on_the_link(pool) -> None:
    async with pool.acquire() as db:
        xref = CrossReferences(db)
        await xref.link("project", "prj-1", ref("17"))
        await xref.mark_failed(
            "project",
            "prj-1",
            **ERP_US,
            error={"code": "period_closed", "message": "reopen 2026-10", "retryable": False},
        )
        row = await db.fetchrow(
            "SELECT sync_status, last_error->>'code' AS code FROM connectors.external_refs"
        )
    assert (row["sync_status"], row["code"]) == ("failed", "period_closed")


SECRET = b"psa-webhook-secret"
BODY = b'{"event":"time_entry:approved","id":"te-1"}'


def signed(
    body: bytes = BODY, *, secret: bytes = SECRET, at: int | None = None, delivery: str = "d-1"
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {"X-Tandem-Signature": sign(secret, body, stamp), "X-Tandem-Delivery": delivery}


async def accept(db, body: bytes, headers: dict[str, str]) -> str:
    return await accept_webhook(
        db, system="psa", instance="kantata-acme", secret=SECRET, body=body, headers=headers
    )


async def test_a_signed_webhook_is_accepted_once(pool) -> None:
    async with pool.acquire() as db:
        assert await accept(db, BODY, signed()) == "d-1"
        with pytest.raises(WebhookRejected) as replayed:
            await accept(db, BODY, signed())
    assert replayed.value.reason == "replayed"


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({}, BODY, "unsigned"),
        ({"X-Tandem-Signature": "v1=abc", "X-Tandem-Delivery": "d"}, BODY, "malformed_signature"),
        (signed(secret=b"someone-else"), BODY, "bad_signature"),
        (signed(), BODY.replace(b"te-1", b"te-2"), "bad_signature"),
        (signed(at=int(time.time()) - 3600), BODY, "stale"),
    ],
)
async def test_unsigned_forged_tampered_or_stale_webhooks_are_refused(
    pool, headers: dict[str, str], body: bytes, reason: str
) -> None:
    async with pool.acquire() as db:
        with pytest.raises(WebhookRejected) as refused:
            await accept(db, body, headers)
        count = await db.fetchval("SELECT count(*) FROM connectors.webhook_deliveries")
    assert refused.value.reason == reason
    assert count == 0
