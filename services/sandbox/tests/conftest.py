from collections.abc import AsyncIterator

import pytest

from tandem_sandbox import MIGRATIONS, Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations


@pytest.fixture
async def sandbox(database_url: str) -> AsyncIterator[Sandbox]:
    await apply_migrations(database_url, [MIGRATIONS])
    settings = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(settings) as running:
        yield running
