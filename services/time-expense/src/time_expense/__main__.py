"""``python -m time_expense api | worker | migrate``."""

import sys
from pathlib import Path

import tandem_connectors
import tandem_messaging
from tandem_service_kit import service_main
from time_expense import bootstrap
from time_expense.entrypoints.worker import main as worker_main
from time_expense.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

if __name__ == "__main__":
    sys.exit(
        service_main(
            settings_factory=Settings,
            app_factory=bootstrap.app,
            worker=worker_main,
            migration_dirs=[tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS, MIGRATIONS],
            prog="python -m time_expense",
        )
    )
