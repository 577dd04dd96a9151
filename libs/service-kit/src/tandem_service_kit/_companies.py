"""A legal entity's ERP company: found by its key, or linked by an operator — and then the work
waiting for it released.

Every service that writes to an ERP may hold work waiting for a legal entity's company
(``tandem_connectors.directory.company_key``). ``resolve_companies`` (a scheduled job) looks
each one up in its ERP by the key it was made under and links it once it exists; an operator
may link one explicitly (``PUT /v1/legal-entities/{id}/erp-company``, audited). Either way the
link commits first, then the wait is recorded as met and the waiting messages are released;
a crash in between is repaired by the next run (the link is then found in the store).
"""

from __future__ import annotations

import logging

import asyncpg
from aio_pika.abc import AbstractConnection

from tandem_connectors.directory import COMPANY_KEY_PREFIX, ErpDirectory, ErpTarget, company_key
from tandem_connectors.xref import CrossReferences
from tandem_messaging import record_satisfied, release, waiting_keys

__all__ = ["release_company_waits", "resolve_companies"]

logger = logging.getLogger(__name__)


async def resolve_companies(
    pool: asyncpg.Pool, connection: AbstractConnection, queue: str, erps: ErpDirectory
) -> int:
    """Look up, by its key, each company ``queue``'s parked messages wait for; link and release
    those the ERP has now. Answer how many waits were released."""
    released = 0
    for key in await waiting_keys(pool, queue, COMPANY_KEY_PREFIX):
        instance, legal_entity_id = key.removeprefix(COMPANY_KEY_PREFIX).split(":", 1)
        erp = erps.adapters.get(instance)
        if erp is None:
            continue  # an instance no longer configured: for a person, via the parking lot
        async with pool.acquire() as db, db.transaction():
            found = await erps.company(
                CrossReferences(db), ErpTarget(instance, erp), legal_entity_id
            )
        if found is not None:
            released += await release_company_waits(
                pool, connection, queue, instance, legal_entity_id
            )
    return released


async def release_company_waits(
    pool: asyncpg.Pool,
    connection: AbstractConnection,
    queue: str,
    instance: str,
    legal_entity_id: str,
) -> int:
    """Record the company wait as met for ``queue`` and release what waits for it."""
    key = company_key(instance, legal_entity_id)
    async with pool.acquire() as db, db.transaction():
        await record_satisfied(db, queue, [key])
    count = await release(pool, connection, queue, [key])
    if count:
        logger.info("released %d message(s) waiting for %s", count, key)
    return count
