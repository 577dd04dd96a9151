"""Which ERP instance serves an entry, and the ERP ids the entry books against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem_connectors.ports import AbstractErp, ErpObject
from tandem_connectors.routing import InstanceRouter
from tandem_connectors.xref import CrossReferences
from tandem_contracts import SystemKind
from tandem_messaging import DbConnection

__all__ = ["ErpDirectory", "ErpTarget"]

ERP = SystemKind.ERP.value


@dataclass(frozen=True)
class ErpTarget:
    """One ERP instance: its name and its adapter."""

    instance: str
    erp: AbstractErp


@dataclass
class ErpDirectory:
    """Routes a legal entity to its ERP instance (residency enforced) and resolves ERP ids."""

    router: InstanceRouter
    adapters: Mapping[str, AbstractErp]
    xref: CrossReferences = field(default_factory=CrossReferences)

    def target(self, legal_entity_id: str, region: str) -> ErpTarget:
        """The ERP instance serving ``legal_entity_id`` in ``region``."""
        instance = self.router.route(legal_entity_id, region).name
        return ErpTarget(instance, self.adapters[instance])

    async def company(self, db: DbConnection, instance: str, legal_entity_id: str) -> str | None:
        """The ERP company of a legal entity, if linked."""
        return await self._external(
            db, "legal_entity", legal_entity_id, instance, ErpObject.COMPANY
        )

    async def employee(self, db: DbConnection, instance: str, worker_id: str) -> str | None:
        """The ERP employee of a worker, if mapped."""
        return await self._external(db, "worker", worker_id, instance, ErpObject.EMPLOYEE)

    async def work(
        self, db: DbConnection, instance: str, project_id: str, work_item_id: str | None
    ) -> str | None:
        """The ERP work an entry books on: its task when linked, else its project."""
        if work_item_id is not None:
            task = await self._external(db, "work_item", work_item_id, instance, ErpObject.TASK)
            if task is not None:
                return task
        return await self._external(db, "project", project_id, instance, ErpObject.PROJECT)

    async def _external(
        self, db: DbConnection, kind: str, canonical_id: str, instance: str, object_type: str
    ) -> str | None:
        return await self.xref.external_id(
            db, kind, canonical_id, system=ERP, instance=instance, object_type=object_type
        )
