"""What must never reach observability (DOMAIN.md §4.7): events carrying notes, names,
receipts and free-text reasons are recorded, and none of that text is stored (any table of
its database), logged (any record, at DEBUG), or exported (its metrics, its API)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from tandem_contracts import events as ev
from tandem_contracts.samples import sample_envelopes
from tandem_service_kit import configure_logging
from tandem_testing import sibling_module

harness = sibling_module(__file__, "observed_harness.py", "observability_it_harness")

SECRETS = {
    "note": "SECRET-NOTE-7f3a client merger talks",
    "name": "SECRET-NAME-91c2 Project Nightingale",
    "receipt": "SECRET-RECEIPT-55d0/receipt.pdf",
    "reason": "SECRET-REASON-0b7e timesheet padded",
}


def _hostile_events() -> list[Any]:
    samples = {e.event_type: e for e in sample_envelopes()}
    now = datetime.now(UTC)

    def like(event_type: str, payload: Any) -> Any:
        return harness.envelope(payload, service=samples[event_type].producer.service,
                                correlation="flow-secret", at=now)  # fmt: skip

    approved = samples["TimeApproved"].payload
    entry = approved.entry.model_copy(update={"notes": SECRETS["note"]})
    opportunity = samples["OpportunityCommitted"].payload.opportunity
    project = samples["ProjectActivated"].payload.project
    expense = samples["ExpenseApproved"].payload.expense
    rejected = samples["TimeRejected"].payload
    return [
        like("TimeApproved", approved.model_copy(update={"entry": entry})),
        like("OpportunityCommitted", ev.OpportunityCommitted(
            opportunity=opportunity.model_copy(update={"name": SECRETS["name"]}),
            committed_at=now)),
        like("ProjectActivated", ev.ProjectActivated(
            project=project.model_copy(update={"name": SECRETS["name"]}), activated_at=now)),
        like("ExpenseApproved", samples["ExpenseApproved"].payload.model_copy(update={
            "expense": expense.model_copy(update={"receipt_ref": SECRETS["receipt"]})})),
        like("TimeRejected", rejected.model_copy(update={"reason": SECRETS["reason"]})),
    ]  # fmt: skip


async def _every_table(obs: Any) -> str:
    tables = await obs.pool.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema IN ('observability', 'messaging') AND table_type = 'BASE TABLE'"
    )
    assert len(tables) >= 10
    texts = []
    for t in tables:
        name = f'"{t["table_schema"]}"."{t["table_name"]}"'
        every_row = f"SELECT coalesce(string_agg(x::text, ' '), '') FROM {name} x"  # noqa: S608
        texts.append(await obs.pool.fetchval(every_row))
    return " ".join(texts)


@pytest.mark.asyncio
async def test_notes_names_receipts_and_reasons_are_never_kept(
    database_url: str, amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    events = _hostile_events()
    async with harness.observing(database_url, amqp_url, log_level="DEBUG") as obs:
        # As a service process configures its logging (in-process, nothing else does).
        handler = configure_logging(obs.settings)
        caplog.set_level(logging.DEBUG)
        await obs.publish(*events)
        await obs.recorded(len(events))
        timeline = await obs.get("/v1/timelines/flow-secret")
        assert len(timeline["steps"]) == len(events)  # all recorded: the check below bites
        answers = [str(timeline)]
        for path in ("/v1/kpis", "/v1/search?q=flow-secret", "/v1/reconciliation"):
            answers.append((await obs.reader.get(path)).text)
        stored = await _every_table(obs)
        logging.getLogger().removeHandler(handler)
    exported = generate_latest(REGISTRY).decode()
    assert len(caplog.records) > 10  # DEBUG logging really ran
    for what, secret in SECRETS.items():
        token = secret.split()[0]
        assert token not in stored, f"the {what} is stored"
        leaks = [r for r in caplog.records if token in f"{r.getMessage()} {r.__dict__!r}"]
        assert not leaks, f"the {what} is logged: {leaks[0].name} {leaks[0].getMessage()[:300]}"
        assert token not in exported, f"the {what} is in the metrics"
        assert not [a for a in answers if token in a], f"the {what} is in the API"
    # The ids are kept: the flow is still followable.
    assert events[0].payload.entry.id in stored


@pytest.mark.asyncio
async def test_the_api_refuses_without_credentials_or_scope_and_says_why(
    database_url: str, amqp_url: str
) -> None:
    async with harness.observing(database_url, amqp_url) as obs:
        anonymous = await obs.api.get("/v1/timelines/x", headers={"X-API-Key": ""})
        assert anonymous.status_code == 401
        wrong = await obs.api.get("/v1/kpis", headers={"X-API-Key": "not-a-key"})
        assert wrong.status_code == 401
        # A reader may read, never act on a parking lot.
        refused = await obs.reader.post(
            "/v1/parking-lots/time-expense/replay",
            json={"ids": ["0190f0b4-0000-7000-8000-000000000001"], "why": "retry"},
        )
        assert refused.status_code == 403
        assert "parked:replay" in refused.json()["detail"]
        assert (await obs.reader.get("/v1/parking-lots")).status_code == 403
        # An operator's request is checked: a reason is required, the service must be known.
        blank = await obs.api.post(
            "/v1/parking-lots/time-expense/replay",
            json={"ids": ["0190f0b4-0000-7000-8000-000000000001"], "why": "   "},
        )
        assert blank.status_code == 422
        unknown = await obs.api.post(
            "/v1/parking-lots/time-expense/replay",
            json={"ids": ["0190f0b4-0000-7000-8000-000000000001"], "why": "retry"},
        )
        assert unknown.status_code == 404
        assert "no parking lot is configured for service time-expense" in unknown.text
        bad_search = await obs.reader.get("/v1/search", params={"q": "two words"})
        assert bad_search.status_code == 422
        who = await obs.reader.get("/v1/whoami")
        assert who.json() == {"subject": who.json()["subject"], "scopes": ["observability:read"]}
        # No fleet source configured: the view says so instead of failing.
        fleet = (await obs.reader.get("/v1/fleet")).json()
        assert fleet["workloads"] is None
        assert fleet["workloads_error"] == "not configured"
        assert fleet["queues_error"] == "not configured"
