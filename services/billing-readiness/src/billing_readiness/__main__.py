"""``python -m billing_readiness api | worker | migrate``."""

import sys

from billing_readiness.bootstrap import DEFINITION
from tandem_service_kit import run_service

if __name__ == "__main__":
    sys.exit(run_service(DEFINITION, prog="python -m billing_readiness"))
