"""``python -m time_expense api | worker | migrate``."""

import sys

from tandem_service_kit import run_service
from time_expense.bootstrap import DEFINITION

if __name__ == "__main__":
    sys.exit(run_service(DEFINITION, prog="python -m time_expense"))
