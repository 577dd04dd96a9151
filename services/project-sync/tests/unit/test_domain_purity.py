"""The domain does no I/O, and the schema agrees with the domain's enums."""

import ast
import re
from pathlib import Path

import pytest

import project_sync
from project_sync.domain.saga import SETTLED, FailureReason, Step

PACKAGE = Path(project_sync.__file__).parent
MIGRATION = (PACKAGE / "migrations" / "0001_project_sync.sql").read_text()
FORBIDDEN = {"asyncpg", "aio_pika", "fastapi", "httpx", "tandem_messaging", "tandem_connectors"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize(
    "module",
    sorted((PACKAGE / "domain").rglob("*.py")),
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_a_domain_module_imports_nothing_that_does_io(module: Path) -> None:
    assert imported_roots(module) & FORBIDDEN == set()


def check_values(column: str) -> set[str]:
    match = re.search(rf"\b{column}\s+text[^,]*?CHECK \({column} IN \(([^)]*)\)\)", MIGRATION, re.S)
    assert match is not None, f"no CHECK on {column}"
    return set(re.findall(r"'([a-z_]+)'", match.group(1)))


def test_the_saga_table_takes_every_step_and_failure_reason() -> None:
    assert check_values("step") == {step.value for step in Step}
    assert check_values("failure_reason") == {reason.value for reason in FailureReason}


def test_the_in_flight_index_leaves_out_exactly_the_settled_steps() -> None:
    match = re.search(r"sagas_in_flight.*?step NOT IN \(([^)]*)\)", MIGRATION, re.S)
    assert match is not None
    assert set(re.findall(r"'([a-z_]+)'", match.group(1))) == {step.value for step in SETTLED}
