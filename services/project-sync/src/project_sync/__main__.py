"""``python -m project_sync api | worker | migrate``."""

import sys

from project_sync.bootstrap import DEFINITION
from tandem_service_kit import run_service

if __name__ == "__main__":
    sys.exit(run_service(DEFINITION, prog="python -m project_sync"))
