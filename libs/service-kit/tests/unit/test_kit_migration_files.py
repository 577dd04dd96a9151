"""Which SQL files make up the migrations, in what order, under which ids."""

from pathlib import Path

import pytest

from tandem_service_kit import MigrationError, discover_migrations


def write(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True)
    for name in names:
        (directory / name).write_text(f"-- {name}\n")
    return directory


def test_files_run_in_directory_order_then_name_order(tmp_path: Path) -> None:
    runtime = write(tmp_path / "tandem_messaging" / "migrations", "002_inbox.sql", "001_outbox.sql")
    service = write(tmp_path / "time-expense" / "migrations", "001_entries.sql", "notes.txt")

    ids = [m.id for m in discover_migrations([runtime, service])]

    assert ids == [
        "tandem_messaging/001_outbox.sql",
        "tandem_messaging/002_inbox.sql",
        "time-expense/001_entries.sql",
    ]


def test_a_directory_not_called_migrations_is_its_own_label(tmp_path: Path) -> None:
    directory = write(tmp_path / "ledger", "001.sql")

    (migration,) = discover_migrations([directory])

    assert migration.id == "ledger/001.sql"
    assert len(migration.checksum) == 64


def test_two_directories_with_one_label_are_refused(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "sync" / "migrations", "001.sql")
    second = write(tmp_path / "b" / "sync" / "migrations", "001.sql")

    with pytest.raises(MigrationError, match="'sync'"):
        discover_migrations([first, second])


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        discover_migrations([tmp_path / "absent"])
