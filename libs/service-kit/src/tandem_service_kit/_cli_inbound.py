"""``tandem inbound set-aside list|replay``: a source's set-aside landed records.

Like the parking-lot commands, these connect to PostgreSQL (``TANDEM_DATABASE_URL``) directly,
so nothing proves who runs them. A replay is audited (``connectors.inbound_replay_audit``) with
``actor`` = ``cli:unauthenticated:<os user>@<host>`` and the name given with ``--actor`` kept
apart as ``claimed_actor``: recorded, never presented as proven. The API's
``POST /v1/inbound/{system}/{instance}/set-aside/replay`` audits the authenticated caller.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from tandem_connectors.set_aside import SetAside, SetAsideReplay, list_set_aside, replay_set_aside
from tandem_contracts import unsafe_text

__all__ = ["add_inbound_commands", "cli_actor", "run_inbound_command"]

_COLUMNS = ("sequence", "record_type", "record_id", "version", "via", "landed_at", "replayable")


def _text(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if not value or len(value) > limit:
            raise argparse.ArgumentTypeError(f"must be 1 to {limit} characters")
        if (unsafe := unsafe_text(value)) is not None:
            raise argparse.ArgumentTypeError(f"holds a {unsafe}")
        return value

    return check


def _sequence(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"not a record sequence: {text!r}")
    return int(text)


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 500:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 500")
    return int(text)


def add_inbound_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``inbound set-aside list`` and ``inbound set-aside replay``."""
    inbound = commands.add_parser("inbound", help="records landed from systems of record")
    actions = inbound.add_subparsers(dest="action", required=True)
    set_aside = actions.add_parser("set-aside", help="records set aside: list them, replay them")
    steps = set_aside.add_subparsers(dest="step", required=True)
    listing = steps.add_parser("list", help="list a source's set-aside records, oldest first")
    replay = steps.add_parser("replay", help="make set-aside records pending again (audited)")
    for step in (listing, replay):
        step.add_argument("--system", type=_text(64), required=True, help="e.g. psa")
        step.add_argument("--instance", type=_text(128), required=True, help="its instance")
        step.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.add_argument("--after", type=_sequence, default=0, help="after this sequence")
    listing.add_argument("--limit", type=_limit, default=100, help="at most N rows (1-500)")
    replay.add_argument("--actor", type=_text(200), required=True, help="who replays (claimed)")
    replay.add_argument("--why", type=_text(500), required=True, help="why (audited)")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=_sequence, action="append", help="a sequence (repeat)")
    which.add_argument("--all", action="store_true", help="every set-aside record of the source")


def cli_actor() -> str:
    """The audited actor of a CLI replay: who the operating system says runs it, unproven."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no password entry (some containers)
        user = "unknown"
    return f"cli:unauthenticated:{user}@{socket.gethostname()}"


async def run_inbound_command(args: argparse.Namespace, database_url: str) -> tuple[int, str]:
    """Run the command; answer how many records it found or replayed, and what to print."""
    db = await asyncpg.connect(database_url)
    try:
        if args.step == "list":
            rows = await list_set_aside(
                db, args.system, args.instance, after=args.after, limit=args.limit
            )
            return len(rows), _rows_json(rows) if args.json else _rows_text(rows)
        selected = None if args.all else args.id
        done = await replay_set_aside(
            db, args.system, args.instance, selected,
            actor=cli_actor(), claimed_actor=args.actor, why=args.why,
        )  # fmt: skip
    finally:
        await db.close()
    return len(done.sequences), _replay_json(done, args) if args.json else _replay_text(done)


def _rows_json(rows: Sequence[SetAside]) -> str:
    return json.dumps(
        [
            {**{name: getattr(r, name) for name in _COLUMNS}, "reason": r.reason,
             "landed_at": r.landed_at.isoformat(),
             "set_aside_at": r.set_aside_at.isoformat() if r.set_aside_at else None}
            for r in rows
        ],
        indent=2,
    )  # fmt: skip


def _rows_text(rows: Sequence[SetAside]) -> str:
    cells = [[_cell(getattr(row, name)) for name in _COLUMNS] for row in rows]
    widths = [max(len(c) for c in column) for column in zip(_COLUMNS, *cells, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(_COLUMNS, widths, strict=True))]
    for row, line in zip(rows, cells, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        lines.append(f"    {' '.join(row.reason.split())[:200]}")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _replay_json(done: SetAsideReplay, args: argparse.Namespace) -> str:
    return json.dumps(
        {"audit_id": done.audit_id, "replayed": len(done.sequences), "ids": list(done.sequences),
         "actor": cli_actor(), "claimed_actor": args.actor},
        indent=2,
    )  # fmt: skip


def _replay_text(done: SetAsideReplay) -> str:
    lines = [f"replay audit #{done.audit_id}: {len(done.sequences)} record(s) made pending"]
    lines.extend(f"  {sequence}" for sequence in done.sequences)
    return "\n".join(lines)
