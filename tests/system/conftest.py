from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox

from .harness import Deployment, deployment_of, migrate


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
