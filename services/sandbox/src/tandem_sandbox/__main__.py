"""``python -m tandem_sandbox serve | migrate | seed``: run, prepare or fill the sandbox."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from tandem_sandbox import MIGRATIONS, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations, configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tandem_sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply the schema, then serve all four systems")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--base-port", type=int, default=None, help="control API port (default 8700)"
    )
    commands.add_parser("migrate", help="apply the sandbox schema and exit")
    seed = commands.add_parser("seed", help="load a generated firm into the four systems")
    seed.add_argument("--seed", type=int, default=7, help="scenario seed (default 7)")
    return parser


async def _serve(settings: SandboxSettings) -> None:
    await apply_migrations(settings.database_url, [MIGRATIONS])
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with run_sandbox(settings) as sandbox:
        for name, url in sandbox.urls.items():
            print(f"{name:8} {url}", flush=True)  # noqa: T201 - the CLI's answer
        await stopping.wait()


async def _seed(settings: SandboxSettings, seed: int) -> None:
    from tandem_sandbox._seed import seed_database

    await apply_migrations(settings.database_url, [MIGRATIONS])
    counts = await seed_database(settings.database_url, seed=seed)
    for key, count in counts.items():
        print(f"{key:28} {count}")  # noqa: T201 - the CLI's answer


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    overrides = {}
    if args.command == "serve":
        overrides = {
            k: v
            for k, v in (("http_host", args.host), ("base_port", args.base_port))
            if v is not None
        }
    settings = SandboxSettings(**overrides)
    configure_logging(settings)
    if args.command == "serve":
        asyncio.run(_serve(settings))
    elif args.command == "migrate":
        asyncio.run(apply_migrations(settings.database_url, [MIGRATIONS]))
    else:
        asyncio.run(_seed(settings, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
