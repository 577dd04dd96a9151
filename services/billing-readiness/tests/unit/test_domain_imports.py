"""The domain computes and does no I/O: it imports the standard library, the contracts,
python-stdnum and, from the connectors, only the ports' ``TaxTreatment``."""

import ast
import sys
from pathlib import Path

import pytest

import billing_readiness.domain

DOMAIN = Path(billing_readiness.domain.__file__).parent
ALLOWED = {"billing_readiness", "tandem_contracts", "tandem_connectors", "stdnum"}


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


@pytest.mark.parametrize("module", sorted(DOMAIN.glob("*.py")), ids=lambda path: path.name)
def test_a_domain_module_imports_nothing_that_does_io(module: Path) -> None:
    for name, names in imports(module):
        root = name.split(".")[0]
        assert root in sys.stdlib_module_names or root in ALLOWED, name
        assert root not in {"asyncio", "socket", "pydantic"}, name
        if root == "billing_readiness":
            assert name.startswith("billing_readiness.domain"), name
        if root == "tandem_connectors":
            assert (name, names) == ("tandem_connectors.ports", ("TaxTreatment",))
