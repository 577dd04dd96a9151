"""``tandem``: inspect the parking lot, replay or discard parked messages, with an audit trail.

    tandem parked list [--consumer C] [--reason R] [--status S] [--limit N] [--json]
    tandem parked show ID [--json]
    tandem parked discard --actor A --why W (--id UUID [--id ...] | --consumer C [...] | --all)
    tandem replay --actor A --why W (--id UUID [--id ...] | --consumer C [...] | --all)
    tandem erp-company link --legal-entity LE --instance I --company C --why W [--api URL]
    tandem erp-company show --legal-entity LE --instance I [--api URL]
    tandem inbound set-aside list --system S --instance I [--after SEQ] [--limit N] [--json]
    tandem inbound set-aside replay --system S --instance I --actor A --why W (--id SEQ ... | --all)
    tandem partitions status --queue Q [--json]
    tandem partitions resize --queue Q --to P [--timeout S] [--management-url URL]

The parking-lot and inbound commands use the database (and broker) of ``TANDEM_DATABASE_URL`` /
``TANDEM_AMQP_URL``; nothing proves who runs them, so a replay or discard is audited as
``cli:unauthenticated:<os user>@<host>`` with ``--actor`` kept as the claimed, unproven name
(``... claims <actor>`` in the parking lot's audit, ``claimed_actor`` in the inbound one).
``erp-company`` calls a service's API (``--api`` or ``TANDEM_API_URL``) with
``TANDEM_API_KEY``, so the link is audited with that key's identity. ``partitions status``
reads a consumer group's members and leases, and asks the broker each partition's depth;
``partitions resize`` changes a group's partition count by hold, drain, re-bind and resume,
keeping each key in order (docs/adr/0009).

Exit codes: 0 done, 1 nothing matched, 2 usage error, 3 the operation failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from uuid import UUID

from pydantic import ValidationError

from tandem_service_kit._cli_companies import add_company_commands, run_company_command
from tandem_service_kit._cli_inbound import add_inbound_commands, cli_actor, run_inbound_command
from tandem_service_kit._cli_ops import CliOps, CliSettings, messaging_ops
from tandem_service_kit._cli_output import (
    detail_json,
    detail_text,
    discard_json,
    discard_text,
    parked_json,
    parked_table,
    replay_json,
    replay_text,
)
from tandem_service_kit._cli_partitions import add_partition_commands, run_partition_command

__all__ = [
    "EXIT_FAILED",
    "EXIT_NOTHING",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliOps",
    "CliSettings",
    "build_parser",
    "main",
]

EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
_STATUSES = ("parked", "replayed", "released", "discarded")


def _out(text: str) -> None:
    print(text)  # noqa: T201 - a CLI talks to the terminal


def _err(text: str) -> None:
    print(f"tandem: {text}", file=sys.stderr)  # noqa: T201 - a CLI talks to the terminal


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be between 1 and 10000")
    return value


def _words(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text.strip()


def _add_parked(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parked = commands.add_parser("parked", help="inspect the parking lot, discard from it")
    actions = parked.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list parked messages, oldest first")
    listing.add_argument("--consumer", type=_words, help="only this consumer's messages")
    listing.add_argument("--reason", type=_words, help="only messages parked for this reason")
    listing.add_argument("--status", choices=_STATUSES, default="parked")
    listing.add_argument("--limit", type=_limit, default=100, help="at most N rows (1-10000)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show = actions.add_parser("show", help="show one parked message, confidential fields redacted")
    show.add_argument("id", type=UUID, help="the parked message id")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    discard = actions.add_parser("discard", help="discard parked messages, never to be replayed")
    _add_selection(discard, "discards")


def _add_selection(command: argparse.ArgumentParser, verb: str) -> None:
    command.add_argument("--actor", type=_words, required=True, help=f"who {verb} (audited)")
    command.add_argument("--why", type=_words, required=True, help="why (audited)")
    which = command.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=UUID, action="append", help="a parked message id (repeat)")
    which.add_argument("--consumer", type=_words, help="every parked message of this consumer")
    which.add_argument("--all", action="store_true", help="every parked message")
    command.add_argument("--reason", type=_words, help="with --consumer: only this reason")
    command.add_argument("--event-type", type=_words, help="with --consumer: only this type")
    command.add_argument("--json", action="store_true", help="print JSON instead of text")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``tandem`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="tandem",
        description="Inspect the parking lot and set-aside records; replay or discard them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_parked(commands)
    replay = commands.add_parser("replay", help="republish parked messages to their consumer")
    _add_selection(replay, "replays")
    add_company_commands(commands)
    add_inbound_commands(commands)
    add_partition_commands(commands)
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    selects = args.command == "replay" or getattr(args, "action", None) == "discard"
    if selects and not args.consumer and (args.reason or args.event_type):
        parser.error("--reason and --event-type narrow --consumer; give --consumer too")
    return args


async def _list(args: argparse.Namespace, ops: CliOps, settings: CliSettings) -> int:
    async with ops.connect(settings, False) as (pool, _):
        rows = await ops.list_parked(
            pool, consumer=args.consumer, reason=args.reason, status=args.status, limit=args.limit
        )
    _out(parked_json(rows) if args.json else parked_table(rows))
    if not rows:
        _err("no parked messages match")
        return EXIT_NOTHING
    return EXIT_OK


async def _show(args: argparse.Namespace, ops: CliOps, settings: CliSettings) -> int:
    async with ops.connect(settings, False) as (pool, _):
        detail = await ops.get_parked(pool, args.id)
    if detail is None:
        _err(f"no parked message {args.id}")
        return EXIT_NOTHING
    _out(detail_json(detail) if args.json else detail_text(detail))
    return EXIT_OK


def _selection(args: argparse.Namespace, ops: CliOps) -> object:
    return ops.selection(
        ids=tuple(args.id or ()),
        consumer=args.consumer,
        reason=args.reason,
        event_type=args.event_type,
        everything=args.all,
    )


def _audited(args: argparse.Namespace) -> str:
    # Nothing proves who runs the CLI: the audit row says so, and keeps the claimed name apart.
    return f"{cli_actor()} claims {args.actor}"


async def _discard(args: argparse.Namespace, ops: CliOps, settings: CliSettings) -> int:
    selection = _selection(args, ops)
    async with ops.connect(settings, False) as (pool, _):
        result = await ops.discard(pool, selection, actor=_audited(args), why=args.why)
    _out(discard_json(result) if args.json else discard_text(result))
    if result.discarded == 0:
        _err("no parked messages match")
        return EXIT_NOTHING
    return EXIT_OK


async def _replay(args: argparse.Namespace, ops: CliOps, settings: CliSettings) -> int:
    selection = _selection(args, ops)
    async with ops.connect(settings, True) as (pool, connection):
        result = await ops.replay(pool, connection, selection, actor=_audited(args), why=args.why)
    _out(replay_json(result) if args.json else replay_text(result))
    if result.replayed == 0:
        _err("no parked messages match")
        return EXIT_NOTHING
    return EXIT_OK


async def _company(args: argparse.Namespace, ops: CliOps, settings: CliSettings) -> int:
    key = settings.api_key.get_secret_value() if settings.api_key else None
    status, text = await run_company_command(args, args.api or settings.api_url, key)
    if status == 404 and args.action == "show":
        _err(text)
        return EXIT_NOTHING
    if status >= 400:
        _err(f"{args.command} {args.action} refused ({status}): {text}")
        return EXIT_FAILED
    _out(text)
    return EXIT_OK


async def _inbound(args: argparse.Namespace, ops: CliOps, settings: CliSettings) -> int:
    found, text = await run_inbound_command(args, settings.database_url)
    _out(text)
    if found == 0:
        _err("no set-aside records match")
        return EXIT_NOTHING
    return EXIT_OK


async def _partitions(args: argparse.Namespace, ops: CliOps, settings: CliSettings) -> int:
    found, text = await run_partition_command(args, settings.database_url, settings.amqp_url)
    _out(text)
    if found == 0:
        _err(f"no consumer group {args.queue} (no partition leases)")
        return EXIT_NOTHING
    return EXIT_OK


_Command = Callable[[argparse.Namespace, CliOps, CliSettings], Coroutine[None, None, int]]
_COMMANDS: dict[tuple[str, str | None], _Command] = {
    ("parked", "list"): _list,
    ("parked", "show"): _show,
    ("parked", "discard"): _discard,
    ("replay", None): _replay,
    ("erp-company", "link"): _company,
    ("erp-company", "show"): _company,
    ("inbound", "set-aside"): _inbound,
    ("partitions", "status"): _partitions,
    ("partitions", "resize"): _partitions,
}


def main(
    argv: Sequence[str] | None = None,
    *,
    ops: CliOps | None = None,
    settings: CliSettings | None = None,
) -> int:
    """Run one ``tandem`` command and return its exit code."""
    try:
        args = _parse(argv)
        settings = settings if settings is not None else CliSettings()
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except ValidationError as exc:
        _err(f"invalid settings: {exc}")
        return EXIT_USAGE
    action = getattr(args, "action", None)
    command = _COMMANDS[(args.command, action)]
    try:
        return asyncio.run(command(args, ops if ops is not None else messaging_ops(), settings))
    except Exception as exc:  # an operator needs the reason, not a traceback
        name = f"{args.command} {action}" if action else args.command
        _err(f"{name} failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
