"""Set-aside landed records, for operators: list them with why, and replay them, audited.

Ingestion sets a record aside (``rejected``) when it can never become an event as it is, and
landing when it cannot be stored (``refused``: no payload kept, never replayed). After a fix
(a role set up, a mapping corrected) an operator replays set-aside records: they become pending
again and the next ingestion pass takes them. Each replay is audited in
``connectors.inbound_replay_audit`` with the actor, the claimed actor (the CLI's ``--actor``,
unproven), why, what was asked and what was replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tandem_connectors.landing import Landing
from tandem_messaging import DbConnection

__all__ = ["SetAside", "SetAsideReplay", "list_set_aside", "replay_set_aside"]

_LIST = """
SELECT sequence, record_type, record_id, version, via, coalesce(detail, '') AS reason,
       received_at, settled_at, NOT refused AS replayable
FROM connectors.inbound
WHERE status = 'rejected' AND system = $1 AND instance = $2 AND sequence > $3
ORDER BY sequence LIMIT $4
"""
_AUDIT = """
INSERT INTO connectors.inbound_replay_audit
    (system, instance, actor, claimed_actor, reason, requested, replayed)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""


@dataclass(frozen=True)
class SetAside:
    """A set-aside record version: its key, why it was set aside, and when."""

    sequence: int
    record_type: str
    record_id: str
    version: int
    via: str
    reason: str
    landed_at: datetime
    set_aside_at: datetime | None
    replayable: bool
    """False for a record refused at landing: no payload was kept."""


@dataclass(frozen=True)
class SetAsideReplay:
    """An audited replay: its audit row and the sequences made pending again."""

    audit_id: int
    sequences: tuple[int, ...]


async def list_set_aside(
    db: DbConnection, system: str, instance: str, *, after: int = 0, limit: int = 100
) -> list[SetAside]:
    """The source's set-aside records after sequence ``after``, oldest first."""
    rows = await db.fetch(_LIST, system, instance, after, limit)
    return [
        SetAside(
            r["sequence"], r["record_type"], r["record_id"], r["version"], r["via"],
            r["reason"], r["received_at"], r["settled_at"], r["replayable"],
        )
        for r in rows
    ]  # fmt: skip


async def replay_set_aside(
    db: DbConnection,
    system: str,
    instance: str,
    sequences: Sequence[int] | None,
    *,
    actor: str,
    why: str,
    claimed_actor: str | None = None,
) -> SetAsideReplay:
    """Make set-aside records pending again (``sequences``, or all of the source when None),
    and audit it in the same transaction, even when nothing matched."""
    requested = list(sequences) if sequences is not None else None
    async with db.transaction():
        replayed = await Landing(db).replay_rejected(system, instance, requested)
        audit_id = await db.fetchval(
            _AUDIT, system, instance, actor, claimed_actor, why, requested, replayed
        )
    return SetAsideReplay(int(audit_id), tuple(sorted(replayed)))
