"""``staffing_sync.psa_requests``: each PSA resource request read, and what was announced of
it (plain SQL on one transaction)."""

from __future__ import annotations

import json
from typing import Any

from staffing_sync.service_layer.unit_of_work import AbstractPsaRequests, KnownPsaRequest
from tandem_contracts.entities import ResourceRequest
from tandem_messaging import DbConnection

__all__ = ["SqlPsaRequests"]

_GET = """
SELECT request_id, instance, external_id, psa_version, version, announced
FROM staffing_sync.psa_requests WHERE request_id = $1 FOR UPDATE
"""
_SAVE = """
INSERT INTO staffing_sync.psa_requests (request_id, instance, external_id, psa_version,
    version, announced)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (request_id) DO UPDATE SET psa_version = EXCLUDED.psa_version,
    version = EXCLUDED.version, announced = EXCLUDED.announced, updated_at = clock_timestamp()
"""


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class SqlPsaRequests(AbstractPsaRequests):
    """``staffing_sync.psa_requests``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, request_id: str) -> KnownPsaRequest | None:
        row = await self.db.fetchrow(_GET, request_id)
        if row is None:
            return None
        announced = row["announced"]
        return KnownPsaRequest(
            row["request_id"], row["instance"], row["external_id"], int(row["psa_version"]),
            int(row["version"]),
            ResourceRequest.model_validate(_loaded(announced)) if announced is not None else None,
        )  # fmt: skip

    async def save(self, known: KnownPsaRequest) -> None:
        announced = known.announced.model_dump_json() if known.announced else None
        await self.db.execute(
            _SAVE, known.request_id, known.instance, known.external_id, known.psa_version,
            known.version, announced,
        )  # fmt: skip
