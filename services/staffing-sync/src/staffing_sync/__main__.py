"""``python -m staffing_sync api | worker | migrate``."""

import sys

from staffing_sync.bootstrap import DEFINITION
from tandem_service_kit import run_service

if __name__ == "__main__":
    sys.exit(run_service(DEFINITION, prog="python -m staffing_sync"))
