"""``python -m observability api | worker | migrate``."""

import sys

from observability.bootstrap import DEFINITION
from tandem_service_kit import run_service

if __name__ == "__main__":
    sys.exit(run_service(DEFINITION, prog="python -m observability"))
