"""The ``tandem`` CLI: arguments, output and exit codes, driven through a fake parking lot."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from tandem_service_kit._cli_inbound import cli_actor
from tandem_service_kit.cli import (
    EXIT_FAILED,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_USAGE,
    CliOps,
    CliSettings,
    main,
)

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
FIRST = UUID("0190f5e2-0000-7000-8000-000000000001")
SECOND = UUID("0190f5e2-0000-7000-8000-000000000002")
REPLAY = UUID("0190f5e2-0000-7000-8000-0000000000ff")
DISCARD = UUID("0190f5e2-0000-7000-8000-0000000000fe")
UNKNOWN = UUID("0190f5e2-0000-7000-8000-0000000000aa")


@dataclass(frozen=True)
class FakeParked:
    id: UUID
    consumer: str
    reason: str
    event_type: str | None = "TimeApproved"
    event_id: UUID | None = None
    routing_key: str = "time.TimeApproved.v1.eu.le-de"
    detail: str = "project P-1 is closed"
    exception_class: str | None = "ProjectClosedError"
    attempts: int = 5
    first_failure_at: datetime = AT
    last_failure_at: datetime = AT
    waiting_for: str | None = None
    status: str = "parked"
    parked_at: datetime = AT


@dataclass(frozen=True)
class FakeDetail(FakeParked):
    queue: str = "time-expense.erp-posting"
    resolved_at: datetime | None = None
    headers: dict[str, Any] = field(default_factory=lambda: {"x-tandem-attempt": 5})
    body_size: int = 812
    envelope: dict[str, Any] | None = field(
        default_factory=lambda: {"event_type": "TimeApproved", "payload": {"notes": "[redacted]"}}
    )
    decode_error: str | None = None


@dataclass(frozen=True)
class FakeSelection:
    ids: tuple[UUID, ...] = ()
    consumer: str | None = None
    reason: str | None = None
    event_type: str | None = None
    everything: bool = False


@dataclass(frozen=True)
class FakeResult:
    replay_id: UUID
    replayed: int
    message_ids: tuple[UUID, ...]


@dataclass(frozen=True)
class FakeDiscard:
    discard_id: UUID
    discarded: int
    message_ids: tuple[UUID, ...]


@dataclass
class FakeParkingLot:
    """Answers like the messaging runtime and remembers what it was asked."""

    rows: list[FakeParked]
    listed: list[dict[str, object]] = field(default_factory=list)
    replays: list[tuple[FakeSelection, str, str]] = field(default_factory=list)
    discards: list[tuple[FakeSelection, str, str]] = field(default_factory=list)
    shown: list[UUID] = field(default_factory=list)
    opened: list[tuple[CliSettings, bool]] = field(default_factory=list)
    failure: Exception | None = None

    async def list_parked(self, pool: object, **filters: object) -> list[FakeParked]:
        if self.failure is not None:
            raise self.failure
        self.listed.append(filters)
        return [r for r in self.rows if filters["consumer"] in (None, r.consumer)]

    async def replay(
        self, pool: object, connection: object, selection: FakeSelection, *, actor: str, why: str
    ) -> FakeResult:
        self.replays.append((selection, actor, why))
        matched = tuple(
            r.id
            for r in self.rows
            if selection.everything or r.id in selection.ids or r.consumer == selection.consumer
        )
        return FakeResult(REPLAY, len(matched), matched)

    async def get_parked(self, pool: object, id: UUID) -> FakeDetail | None:
        self.shown.append(id)
        found = next((r for r in self.rows if r.id == id), None)
        return None if found is None else FakeDetail(found.id, found.consumer, found.reason)

    async def discard(
        self, pool: object, selection: FakeSelection, *, actor: str, why: str
    ) -> FakeDiscard:
        if self.failure is not None:
            raise self.failure
        self.discards.append((selection, actor, why))
        matched = tuple(
            r.id
            for r in self.rows
            if selection.everything or r.id in selection.ids or r.consumer == selection.consumer
        )
        return FakeDiscard(DISCARD, len(matched), matched)

    @asynccontextmanager
    async def connect(
        self, settings: CliSettings, need_broker: bool
    ) -> AsyncIterator[tuple[str, str | None]]:
        self.opened.append((settings, need_broker))
        yield "pool", "connection" if need_broker else None

    @property
    def ops(self) -> CliOps:
        return CliOps(
            list_parked=self.list_parked,
            replay=self.replay,
            selection=FakeSelection,
            connect=self.connect,
            get_parked=self.get_parked,
            discard=self.discard,
        )


@pytest.fixture
def lot() -> FakeParkingLot:
    return FakeParkingLot(
        rows=[
            FakeParked(FIRST, "time-expense.erp-posting", "project_closed"),
            FakeParked(SECOND, "billing-readiness.charges", "decode_error", event_type=None),
        ]
    )


def run(lot: FakeParkingLot, *argv: str) -> int:
    return main(list(argv), ops=lot.ops, settings=CliSettings())


def test_parked_list_prints_a_table(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, "parked", "list") == EXIT_OK

    header, first, detail, second, _ = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "ID", "CONSUMER", "EVENT_TYPE", "REASON", "ATTEMPTS", "LAST_FAILURE_AT", "STATUS"
    ]  # fmt: skip
    assert first.split()[:4] == [
        str(FIRST),
        "time-expense.erp-posting",
        "TimeApproved",
        "project_closed",
    ]
    assert detail.strip() == "project P-1 is closed"
    assert second.split()[2] == "-"  # an undecodable message has no event type
    assert lot.listed == [{"consumer": None, "reason": None, "status": "parked", "limit": 100}]
    assert lot.opened[0][1] is False  # listing needs no broker


def test_parked_list_passes_its_filters(lot: FakeParkingLot) -> None:
    argv = ["--consumer", "time-expense.erp-posting", "--reason", "project_closed"]
    code = run(lot, "parked", "list", *argv, "--status", "replayed", "--limit", "5")

    assert code == EXIT_OK
    assert lot.listed == [
        {
            "consumer": "time-expense.erp-posting",
            "reason": "project_closed",
            "status": "replayed",
            "limit": 5,
        }
    ]


def test_parked_list_as_json_has_every_field(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, "parked", "list", "--json") == EXIT_OK

    rows = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in rows] == [str(FIRST), str(SECOND)]
    assert rows[0]["last_failure_at"] == "2026-11-02T09:30:00+00:00"
    assert rows[0]["attempts"] == 5
    assert len(rows[0]) == 14


def test_an_empty_parking_lot_exits_1(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, "parked", "list", "--consumer", "nobody", "--json") == EXIT_NOTHING

    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no parked messages match" in captured.err


def test_replay_by_ids_is_audited(lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        lot, "replay", "--actor", "sre.alice", "--why", "P-1 reopened",
        "--id", str(FIRST), "--id", str(SECOND),
    )  # fmt: skip

    assert code == EXIT_OK
    # Nothing proves who runs the CLI: the audit says so and keeps the claimed name apart.
    actor = f"{cli_actor()} claims sre.alice"
    assert actor.startswith("cli:unauthenticated:")
    assert lot.replays == [(FakeSelection(ids=(FIRST, SECOND)), actor, "P-1 reopened")]
    assert lot.opened[0][1] is True  # replaying publishes, so it needs the broker
    out = capsys.readouterr().out
    assert f"replay {REPLAY}: 2 message(s) replayed" in out
    assert str(FIRST) in out


def test_replay_by_consumer_narrows_by_reason_and_type(lot: FakeParkingLot) -> None:
    code = run(
        lot, "replay", "--actor", "a", "--why", "w", "--consumer", "time-expense.erp-posting",
        "--reason", "project_closed", "--event-type", "TimeApproved",
    )  # fmt: skip

    assert code == EXIT_OK
    expected = FakeSelection(
        consumer="time-expense.erp-posting", reason="project_closed", event_type="TimeApproved"
    )
    assert lot.replays[0][0] == expected


def test_replay_everything_as_json(lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(lot, "replay", "--actor", "a", "--why", "w", "--all", "--json") == EXIT_OK

    assert lot.replays[0][0] == FakeSelection(everything=True)
    assert json.loads(capsys.readouterr().out) == {
        "replay_id": str(REPLAY),
        "replayed": 2,
        "message_ids": [str(FIRST), str(SECOND)],
    }


def test_a_replay_matching_nothing_exits_1(lot: FakeParkingLot) -> None:
    code = run(lot, "replay", "--actor", "a", "--why", "w", "--consumer", "nobody")

    assert code == EXIT_NOTHING


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["parked"],
        ["parked", "list", "--status", "lost"],
        ["parked", "list", "--limit", "0"],
        ["replay", "--why", "w", "--all"],
        ["replay", "--actor", "a", "--all"],
        ["replay", "--actor", " ", "--why", "w", "--all"],
        ["replay", "--actor", "a", "--why", "w"],
        ["replay", "--actor", "a", "--why", "w", "--all", "--consumer", "c"],
        ["replay", "--actor", "a", "--why", "w", "--id", "not-a-uuid"],
        ["replay", "--actor", "a", "--why", "w", "--all", "--reason", "r"],
        ["parked", "show"],
        ["parked", "show", "not-a-uuid"],
        ["parked", "discard", "--why", "w", "--all"],
        ["parked", "discard", "--actor", "a", "--why", " ", "--all"],
        ["parked", "discard", "--actor", "a", "--why", "w"],
        ["parked", "discard", "--actor", "a", "--why", "w", "--id", str(FIRST), "--all"],
        ["parked", "discard", "--actor", "a", "--why", "w", "--all", "--event-type", "T"],
    ],
    ids=lambda argv: " ".join(argv) or "nothing",
)
def test_usage_errors_exit_2_and_touch_nothing(
    lot: FakeParkingLot, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, *argv) == EXIT_USAGE

    assert "usage:" in capsys.readouterr().err
    assert lot.opened == []


def test_help_exits_0(lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(lot, "replay", "--help") == EXIT_OK

    assert "--actor" in capsys.readouterr().out


def test_a_failing_operation_exits_3_with_the_reason(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    lot.failure = ConnectionRefusedError("connect call failed ('127.0.0.1', 5432)")

    assert run(lot, "parked", "list") == EXIT_FAILED

    assert "ConnectionRefusedError" in capsys.readouterr().err


def test_urls_come_from_the_environment(
    lot: FakeParkingLot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEM_DATABASE_URL", "postgresql://ops@db.internal/tandem")
    monkeypatch.setenv("TANDEM_AMQP_URL", "amqp://ops@mq.internal/tandem")

    assert main(["replay", "--actor", "a", "--why", "w", "--all"], ops=lot.ops) == EXIT_OK

    settings = lot.opened[0][0]
    assert settings.database_url == "postgresql://ops@db.internal/tandem"
    assert settings.amqp_url == "amqp://ops@mq.internal/tandem"


def test_parked_list_accepts_the_discarded_status(lot: FakeParkingLot) -> None:
    assert run(lot, "parked", "list", "--status", "discarded") == EXIT_OK

    assert lot.listed[0]["status"] == "discarded"


def test_parked_show_prints_one_message_in_full(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, "parked", "show", str(FIRST)) == EXIT_OK

    out = capsys.readouterr().out
    fields = dict(line.split(maxsplit=1) for line in out.splitlines()[:18])
    assert fields["id"] == str(FIRST)
    assert fields["queue"] == "time-expense.erp-posting"
    assert fields["body_size"] == "812"
    assert fields["decode_error"] == "-"
    assert '"x-tandem-attempt": 5' in out
    assert '"notes": "[redacted]"' in out
    assert lot.shown == [FIRST]
    assert lot.opened[0][1] is False  # showing needs no broker


def test_parked_show_as_json_has_every_field_headers_and_envelope(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, "parked", "show", str(SECOND), "--json") == EXIT_OK

    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == str(SECOND)
    assert shown["reason"] == "decode_error"
    assert shown["headers"] == {"x-tandem-attempt": 5}
    assert shown["envelope"]["payload"] == {"notes": "[redacted]"}
    assert shown["resolved_at"] is None
    assert len(shown) == 14 + 6


def test_showing_an_unknown_message_exits_1(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, "parked", "show", str(UNKNOWN)) == EXIT_NOTHING

    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no parked message {UNKNOWN}" in captured.err


def test_discard_by_ids_is_audited_without_the_broker(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        lot, "parked", "discard", "--actor", "sre.alice", "--why", "duplicate from the PSA",
        "--id", str(FIRST),
    )  # fmt: skip

    assert code == EXIT_OK
    actor = f"{cli_actor()} claims sre.alice"
    assert lot.discards == [(FakeSelection(ids=(FIRST,)), actor, "duplicate from the PSA")]
    assert lot.replays == []
    assert lot.opened[0][1] is False  # discarding publishes nothing
    out = capsys.readouterr().out
    assert out.splitlines() == [f"discard {DISCARD}: 1 message(s) discarded", f"  {FIRST}"]


def test_discard_by_consumer_narrows_by_reason_and_type(lot: FakeParkingLot) -> None:
    code = run(
        lot, "parked", "discard", "--actor", "a", "--why", "w",
        "--consumer", "billing-readiness.charges", "--reason", "decode_error",
        "--event-type", "TimeApproved",
    )  # fmt: skip

    assert code == EXIT_OK
    expected = FakeSelection(
        consumer="billing-readiness.charges", reason="decode_error", event_type="TimeApproved"
    )
    assert lot.discards[0][0] == expected


def test_discard_everything_as_json(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(lot, "parked", "discard", "--actor", "a", "--why", "w", "--all", "--json") == EXIT_OK

    assert lot.discards[0][0] == FakeSelection(everything=True)
    assert json.loads(capsys.readouterr().out) == {
        "discard_id": str(DISCARD),
        "discarded": 2,
        "message_ids": [str(FIRST), str(SECOND)],
    }


def test_a_discard_matching_nothing_exits_1(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(lot, "parked", "discard", "--actor", "a", "--why", "w", "--id", str(UNKNOWN))

    assert code == EXIT_NOTHING
    assert "no parked messages match" in capsys.readouterr().err


def test_a_failing_discard_exits_3_naming_the_command(
    lot: FakeParkingLot, capsys: pytest.CaptureFixture[str]
) -> None:
    lot.failure = ConnectionRefusedError("connect call failed ('127.0.0.1', 5432)")

    assert run(lot, "parked", "discard", "--actor", "a", "--why", "w", "--all") == EXIT_FAILED

    assert "parked discard failed: ConnectionRefusedError" in capsys.readouterr().err
