"""Transactions outside a consumer, with the same unit of work the handlers get.

Work that runs outside a consumer (a scheduled reconciliation, an operator's request) opens its
own transactions; ``transactions(pool, make)`` gives it a function that opens one, yields the
service's unit of work on its connection, and flushes it before the commit — so the code is
written against the unit of work alone, and a unit test passes a fake instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

import asyncpg

from tandem_messaging._db import DbConnection
from tandem_messaging._router import UnitOfWork

__all__ = ["Transactions", "transactions"]

U = TypeVar("U", bound=UnitOfWork)
Transactions = Callable[[], AbstractAsyncContextManager[U]]
"""Opens a transaction and yields its unit of work; flushes it, then commits, on exit."""


def transactions(pool: asyncpg.Pool, make: Callable[[DbConnection], U]) -> Transactions[U]:
    """Transactions on ``pool``, each with the unit of work ``make`` builds on its connection."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[U]:
        async with pool.acquire() as connection, connection.transaction():
            uow = make(connection)
            yield uow
            await uow.flush()

    return begin
