"""The cross-reference store and signed webhooks, against a real PostgreSQL."""

import asyncio
import time

import pytest

from tandem_connectors.webhooks import (
    WebhookEvent,
    WebhookRejected,
    accept_webhook,
    read_webhook_event,
    sign,
)
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


async def test_two_transactions_writing_the_same_link_at_once_both_succeed(pool) -> None:
    """Two customers of one legal entity both find its company unlinked and link it: the
    second transaction to commit meets the first's row on either unique key, and must take
    the link as made, not refuse it as a conflict (which would park the customer for good).
    The collision on the canonical key needs both statements inside one narrow window, so
    this provokes it many times rather than once (seen in a system test before the fix)."""

    async def link(canonical_id: str, external_id: str, started: asyncio.Barrier) -> None:
        async with pool.acquire() as db, db.transaction():
            await started.wait()
            await CrossReferences(db).link("legal_entity", canonical_id, ref(external_id))
            await db.execute("SELECT pg_sleep(0.01)")  # hold the uncommitted row a moment

    for round_ in range(60):
        started = asyncio.Barrier(2)
        await asyncio.gather(*(link(f"le-{round_}", f"sub-{round_}", started) for _ in range(2)))
    async with pool.acquire() as db:
        count = await db.fetchval("SELECT count(*) FROM connectors.external_refs")
    assert count == 60


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


async def test_a_transaction_reads_its_own_links_and_unlinks(pool) -> None:
    async with pool.acquire() as db, db.transaction():
        xref = CrossReferences(db)
        assert await xref.external_id("project", "prj-1", **ERP_US) is None  # remembered
        assert await xref.canonical_id("project", **ERP_US, external_id="17") is None
        await xref.link("project", "prj-1", ref("17"))
        assert await xref.external_id("project", "prj-1", **ERP_US) == "17"
        assert await xref.canonical_id("project", **ERP_US, external_id="17") == "prj-1"
        assert await xref.unlink("project", "prj-1", **ERP_US)
        assert await xref.external_id("project", "prj-1", **ERP_US) is None
        assert await xref.canonical_id("project", **ERP_US, external_id="17") is None
        assert not await xref.unlink("project", "prj-1", **ERP_US)
        # Each read goes to the database once per object: another object's write is not seen.
        assert await xref.external_id("project", "prj-2", **ERP_US) is None
        await CrossReferences(db).link("project", "prj-2", ref("18"))
        assert await xref.external_id("project", "prj-2", **ERP_US) is None
        assert await CrossReferences(db).external_id("project", "prj-2", **ERP_US) == "18"
        count = await db.fetchval("SELECT count(*) FROM connectors.external_refs")
    assert count == 1


async def test_one_entity_named_for_two_records_in_one_batch_keeps_neither(pool) -> None:
    async with pool.acquire() as db:
        xref = CrossReferences(db)
        with pytest.raises(XrefConflict):
            await xref.link_many("project", [("prj-1", ref("17")), ("prj-1", ref("18"))])
        with pytest.raises(XrefConflict, match="named for both"):
            await xref.link_many("project", [("prj-1", ref("17")), ("prj-2", ref("17"))])
        count = await db.fetchval("SELECT count(*) FROM connectors.external_refs")
    assert count == 0


async def test_a_link_made_by_hand_is_audited_with_who_and_why(pool) -> None:
    async with pool.acquire() as db:
        xref = CrossReferences(db)
        await xref.link_by_hand("project", "prj-1", ref("17"), actor="ops@acme", why="ticket 42")
        with pytest.raises(XrefConflict):  # the record is prj-1's: nothing audited
            await xref.link_by_hand("project", "prj-2", ref("17"), actor="ops@acme", why="typo")
        audit = await db.fetch(
            "SELECT canonical_type, canonical_id, system, instance, object_type, external_id,"
            " actor, reason FROM connectors.link_audit"
        )
        linked = await CrossReferences(db).canonical_id("project", **ERP_US, external_id="17")
    assert [tuple(row) for row in audit] == [
        ("project", "prj-1", "erp", "tryton-us", "project.work", "17", "ops@acme", "ticket 42")
    ]
    assert linked == "prj-1"


SECRET = b"psa-webhook-secret"
BODY = b'{"event":"time_entry:approved","id":"te-1"}'


def signed(
    body: bytes = BODY, *, secret: bytes = SECRET, at: int | None = None, delivery: str = "d-1"
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    signature = sign(secret, body, stamp, delivery=delivery)
    return {"X-Tandem-Signature": signature, "X-Tandem-Delivery": delivery}


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
        ({"X-Tandem-Signature": "v2=abc", "X-Tandem-Delivery": "d"}, BODY, "malformed_signature"),
        ({"X-Tandem-Signature": "t=1,v1=abc", "X-Tandem-Delivery": "d"}, BODY, "signature_version"),
        ({**signed(), "X-Tandem-Delivery": "d-2"}, BODY, "bad_signature"),
        ({**signed(), "X-Tandem-Delivery": "d 1"}, BODY, "malformed_delivery"),
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


async def test_a_webhook_is_refused_while_no_secret_is_configured(pool) -> None:
    # Signed with the empty key, it would verify against an unset secret: refused all the same.
    headers = signed(secret=b"")
    async with pool.acquire() as db:
        with pytest.raises(WebhookRejected) as refused:
            await accept_webhook(
                db, system="psa", instance="kantata-acme", secret=b"", body=BODY, headers=headers
            )
        count = await db.fetchval("SELECT count(*) FROM connectors.webhook_deliveries")
    assert refused.value.reason == "not_configured"
    assert count == 0


def test_a_webhook_event_is_its_subject_type_and_record() -> None:
    body = b'{"subject": {"type": "time_entry"}, "data": {"id": "te-1", "version": 3, "x": 1}}'
    assert read_webhook_event(body) == WebhookEvent(
        "time_entry", {"id": "te-1", "version": 3, "x": 1}
    )
    assert read_webhook_event(b'{"data": {"id": "te-1", "version": 1}}').subject_type == ""


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'[{"data": {"id": "te-1", "version": 1}}]',
        b'{"subject": {"type": "time_entry"}}',
        b'{"data": ["te-1", 1]}',
        b'{"data": {"id": 17, "version": 1}}',
        b'{"data": {"id": "te-1"}}',
        b'{"data": {"id": "te-1", "version": "1"}}',
        b'{"data": {"id": "te-1", "version": 1.0}}',
        b'{"data": {"id": "te-1", "version": true}}',
    ],
)
def test_a_malformed_webhook_body_is_refused(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as refused:
        read_webhook_event(body)
    assert refused.value.reason == "malformed"
