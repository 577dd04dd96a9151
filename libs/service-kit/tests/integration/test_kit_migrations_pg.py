"""Migrations against a real PostgreSQL: ordered, once each, checksummed, one runner at a time."""

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI

from tandem_service_kit import (
    MigrationChecksumError,
    MigrationError,
    ServiceSettings,
    apply_migrations,
    service_main,
)


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


def logged(step: str) -> str:
    return f"INSERT INTO migration_log (step) VALUES ('{step}');"  # noqa: S608 - fixed test text


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    return write(
        tmp_path / "tandem_messaging" / "migrations",
        {
            "002_second.sql": logged("runtime-2"),
            "001_first.sql": "CREATE TABLE migration_log (n serial PRIMARY KEY, step text UNIQUE);"
            + logged("runtime-1"),
        },
    )


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    return write(tmp_path / "time-expense" / "migrations", {"001_entries.sql": logged("service-1")})


async def fetch_column(database_url: str, query: str) -> list[object]:
    connection = await asyncpg.connect(database_url)
    try:
        return [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()


async def test_files_apply_in_order_and_are_recorded(
    database_url: str, runtime_dir: Path, service_dir: Path
) -> None:
    applied = await apply_migrations(database_url, [runtime_dir, service_dir])

    expected = [
        "tandem_messaging/001_first.sql",
        "tandem_messaging/002_second.sql",
        "time-expense/001_entries.sql",
    ]
    assert applied == expected
    steps = await fetch_column(database_url, "SELECT step FROM migration_log ORDER BY n")
    assert steps == ["runtime-1", "runtime-2", "service-1"]
    recorded = await fetch_column(
        database_url, "SELECT id FROM public.tandem_schema_migrations ORDER BY applied_at, id"
    )
    assert recorded == expected


async def test_a_second_run_applies_only_new_files(
    database_url: str, runtime_dir: Path, service_dir: Path
) -> None:
    await apply_migrations(database_url, [runtime_dir, service_dir])

    assert await apply_migrations(database_url, [runtime_dir, service_dir]) == []
    write(service_dir, {"002_more.sql": logged("service-2")})
    assert await apply_migrations(database_url, [runtime_dir, service_dir]) == [
        "time-expense/002_more.sql"
    ]


async def test_an_edited_applied_file_is_refused_by_name(
    database_url: str, runtime_dir: Path, service_dir: Path
) -> None:
    await apply_migrations(database_url, [runtime_dir, service_dir])
    write(runtime_dir, {"002_second.sql": logged("runtime-2-edited")})
    write(service_dir, {"002_more.sql": logged("service-2")})

    with pytest.raises(
        MigrationChecksumError, match=re.escape("tandem_messaging/002_second.sql")
    ) as caught:
        await apply_migrations(database_url, [runtime_dir, service_dir])

    assert caught.value.migration_id == "tandem_messaging/002_second.sql"
    # Nothing new ran: the check comes before any file is applied.
    assert await fetch_column(database_url, "SELECT count(*) FROM migration_log") == [3]


async def test_a_failing_file_rolls_back_alone_and_is_named(
    database_url: str, runtime_dir: Path, service_dir: Path
) -> None:
    write(
        service_dir, {"002_broken.sql": logged("service-2") + "\nCREATE VIEW v AS TABLE nowhere;"}
    )

    with pytest.raises(MigrationError, match=re.escape("time-expense/002_broken.sql")):
        await apply_migrations(database_url, [runtime_dir, service_dir])

    steps = await fetch_column(database_url, "SELECT step FROM migration_log ORDER BY n")
    assert steps == ["runtime-1", "runtime-2", "service-1"]
    recorded = await fetch_column(database_url, "SELECT id FROM tandem_schema_migrations")
    assert "time-expense/002_broken.sql" not in recorded


async def test_concurrent_runners_apply_each_file_exactly_once(
    database_url: str, runtime_dir: Path, service_dir: Path
) -> None:
    runs = await asyncio.gather(
        *(apply_migrations(database_url, [runtime_dir, service_dir]) for _ in range(4))
    )

    applied = [migration for run in runs for migration in run]
    assert sorted(applied) == [
        "tandem_messaging/001_first.sql",
        "tandem_messaging/002_second.sql",
        "time-expense/001_entries.sql",
    ]
    assert await fetch_column(database_url, "SELECT count(*) FROM migration_log") == [3]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def no_app(_: ServiceSettings) -> FastAPI:
    raise AssertionError("migrate must not build the app")


@pytest.mark.usefixtures("restored_logging")
async def test_the_migrate_command_applies_and_exits_0(
    database_url: str, runtime_dir: Path, service_dir: Path
) -> None:
    def settings() -> ServiceSettings:
        return ServiceSettings(service_name="time-expense", database_url=database_url)

    def migrate() -> int:
        return service_main(
            ["migrate"],
            settings_factory=settings,
            app_factory=no_app,
            migration_dirs=[runtime_dir, service_dir],
        )

    # The command runs its own event loop, so it gets a thread of its own.
    assert await asyncio.to_thread(migrate) == 0
    assert await fetch_column(database_url, "SELECT count(*) FROM migration_log") == [3]
