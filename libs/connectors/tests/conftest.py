from collections.abc import AsyncIterator

import asyncpg
import pytest

from tandem_connectors import MIGRATIONS


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as created:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            await created.execute(path.read_text())
        yield created
