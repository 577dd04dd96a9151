"""The example service (``tests/example/lost_deals.py``) as a real process:
``python example_service.py api|worker``, its ERP a fake that knows no project (a lost deal
is recorded without one)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tandem_connectors.fakes import FakeErp
from tandem_service_kit import run_service


def load_example() -> ModuleType:
    path = Path(__file__).parents[2] / "example" / "lost_deals.py"
    spec = importlib.util.spec_from_file_location("lost_deals", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lost_deals"] = module  # its models resolve their annotations by module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(run_service(load_example().definition(FakeErp()), sys.argv[1:]))
