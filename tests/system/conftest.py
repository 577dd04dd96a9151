from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox

from .harness import Deployment, deployment_of, migrate
from .service_image import built_image


@pytest.fixture
async def sandbox(database_url: str) -> AsyncIterator[Sandbox]:
    await migrate(database_url)
    settings = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(settings) as running:
        yield running


@pytest.fixture
async def deployment(
    sandbox: Sandbox, database_url: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[Deployment]:
    deployed = deployment_of(sandbox, database_url, amqp_url, tmp_path)
    try:
        yield deployed
    finally:
        deployed.stop()


@pytest.fixture(scope="session")
def time_expense_image() -> str:
    """time-expense's image, as ``make images`` builds it."""
    return built_image("time-expense")


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The sandbox systems' dev image, as ``make images`` builds it."""
    return built_image("sandbox")


@pytest.fixture(scope="session")
def project_sync_image() -> str:
    """project-sync's image, as ``make images`` builds it."""
    return built_image("project-sync")


@pytest.fixture(scope="session")
def staffing_sync_image() -> str:
    """staffing-sync's image, as ``make images`` builds it."""
    return built_image("staffing-sync")


@pytest.fixture(scope="session")
def billing_readiness_image() -> str:
    """billing-readiness's image, as ``make images`` builds it."""
    return built_image("billing-readiness")


@pytest.fixture
def containers() -> Iterator[list[Any]]:
    """Containers a test started (append them): stopped and removed afterwards."""
    started: list[Any] = []
    yield started
    for container in reversed(started):
        container.stop()


@pytest.fixture(scope="session")
def observability_image() -> str:
    """observability's image, as ``make images`` builds it."""
    return built_image("observability")
