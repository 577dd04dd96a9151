"""``SqlApprovals``: the contract approvals operators gave."""

from __future__ import annotations

from project_sync.service_layer.unit_of_work import AbstractApprovals
from tandem_contracts.entities import Contract
from tandem_messaging import DbConnection

__all__ = ["SqlApprovals"]


class SqlApprovals(AbstractApprovals):
    """``project_sync.contract_approvals``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def record(self, contract: Contract, version: int, actor: str, why: str) -> None:
        await self.db.execute(
            "INSERT INTO project_sync.contract_approvals "
            "(contract_id, version, opportunity_id, contract, actor, why) "
            "VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT DO NOTHING",
            contract.id,
            version,
            contract.opportunity_id,
            contract.model_dump_json(),
            actor,
            why,
        )
