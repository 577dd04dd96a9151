"""Plain-SQL migrations, applied once each, in order, by one runner at a time."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tandem_service_kit.errors import MigrationChecksumError, MigrationError

__all__ = ["Migration", "apply_migrations", "discover_migrations"]

logger = logging.getLogger(__name__)

# Any constant works as long as every runner uses the same one: "tandem" in ASCII.
_LOCK_KEY = 0x74616E64656D

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS public.tandem_schema_migrations (
    id text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
_SELECT_APPLIED = "SELECT id, checksum FROM public.tandem_schema_migrations"
_RECORD = "INSERT INTO public.tandem_schema_migrations (id, checksum) VALUES ($1, $2)"


@dataclass(frozen=True)
class Migration:
    """One SQL file: its id (``<label>/<file name>``), text and SHA-256 checksum."""

    id: str
    sql: str
    checksum: str


def _label(directory: Path) -> str:
    # Directories called "migrations" are named by what holds them (tandem_messaging, a service).
    return directory.parent.name if directory.name == "migrations" else directory.name


def discover_migrations(directories: Sequence[Path]) -> list[Migration]:
    """Return the ``.sql`` files of ``directories`` in directory order, then file name order."""
    migrations: list[Migration] = []
    labels: set[str] = set()
    for directory in directories:
        if not directory.is_dir():
            raise MigrationError(f"migration directory {directory} does not exist")
        label = _label(directory)
        if label in labels:
            raise MigrationError(f"two migration directories are both labelled {label!r}")
        labels.add(label)
        for path in sorted(directory.glob("*.sql"), key=lambda p: p.name):
            data = path.read_bytes()
            checksum = hashlib.sha256(data).hexdigest()
            migrations.append(Migration(f"{label}/{path.name}", data.decode(), checksum))
    return migrations


def _check_unchanged(migrations: Sequence[Migration], applied: dict[str, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.id)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationChecksumError(migration.id, recorded, migration.checksum)


async def _apply(connection: asyncpg.Connection, migrations: Sequence[Migration]) -> list[str]:
    await connection.execute(_CREATE_TABLE)
    applied = {row["id"]: row["checksum"] for row in await connection.fetch(_SELECT_APPLIED)}
    _check_unchanged(migrations, applied)
    done: list[str] = []
    for migration in migrations:
        if migration.id in applied:
            continue
        try:
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(_RECORD, migration.id, migration.checksum)
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"migration {migration.id} failed: {exc}") from exc
        logger.info("applied migration %s", migration.id)
        done.append(migration.id)
    return done


async def apply_migrations(database_url: str, directories: Sequence[Path]) -> list[str]:
    """Apply the migrations not yet applied, each in its own transaction; return their ids."""
    migrations = discover_migrations(directories)
    connection = await asyncpg.connect(database_url)
    try:
        # A session lock: concurrent runners wait here, then find the work already done.
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _apply(connection, migrations)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await connection.close()
