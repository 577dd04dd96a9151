import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tandem_sandbox import MIGRATIONS, Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations


@pytest.fixture
async def sandbox(database_url: str) -> AsyncIterator[Sandbox]:
    await apply_migrations(database_url, [MIGRATIONS])
    settings = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(settings) as running:
        yield running


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Poll ``check`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.02)
