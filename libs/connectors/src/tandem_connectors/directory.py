"""Which ERP instance serves a legal entity, and the ERP records a posting books against.

Every service that writes to an ERP asks the same questions: which instance holds this
entity's books (residency enforced by ``routing.InstanceRouter``), and which ERP company,
employee, project or task a canonical id is there. The answers come from the cross-reference
store; a legal entity's company is also looked up in the ERP itself, by the key it was made
under (its canonical id, by convention of ``AbstractErp.ensure_legal_entity``), and linked once
found, so nobody has to link companies by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tandem_connectors.ports import AbstractErp, ErpObject
from tandem_connectors.routing import InstanceRouter
from tandem_connectors.xref import AbstractCrossReferences
from tandem_contracts import ExternalRef, SystemKind

__all__ = ["COMPANY_KEY_PREFIX", "ErpDirectory", "ErpTarget", "company_key", "employee_key"]

ERP = SystemKind.ERP.value
COMPANY_KEY_PREFIX = "legal-entity-in-erp:"


def company_key(instance: str, legal_entity_id: str) -> str:
    """The dependency key of work waiting for a legal entity's company in an ERP instance."""
    return f"{COMPANY_KEY_PREFIX}{instance}:{legal_entity_id}"


def employee_key(worker_id: str, legal_entity_id: str | None = None) -> str:
    """The idempotency key of a worker's ERP employee.

    Every service that makes the employee writes it under this key, so they all find the one
    record: the first employment's (``legal_entity_id`` None); an employment in another legal
    entity after a transfer is its own employee of that entity's company, keyed by the entity.
    """
    if legal_entity_id is None:
        return f"employee:{worker_id}"
    return f"employee:{worker_id}:{legal_entity_id}"


@dataclass(frozen=True)
class ErpTarget:
    """One ERP instance: its name and its adapter."""

    instance: str
    erp: AbstractErp


class ErpDirectory:
    """Routes legal entities to ERP instances and resolves ERP ids through cross-references.

    A company the ERP does not have yet is asked for again only after ``miss_ttl_s``: a burst
    of postings for an entity not set up in the ERP asks once, not once per posting.
    """

    def __init__(
        self,
        router: InstanceRouter,
        adapters: Mapping[str, AbstractErp],
        *,
        miss_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.adapters = dict(adapters)
        self._miss_ttl = miss_ttl_s
        self._clock = clock
        self._missing: dict[tuple[str, str], float] = {}

    def target(self, legal_entity_id: str, region: str) -> ErpTarget:
        """The ERP instance serving ``legal_entity_id`` in ``region``; ``NoRoute`` or
        ``ResidencyViolation`` when none may."""
        instance = self.router.route(legal_entity_id, region).name
        return ErpTarget(instance, self.adapters[instance])

    async def company(
        self, refs: AbstractCrossReferences, target: ErpTarget, legal_entity_id: str
    ) -> str | None:
        """The ERP company of a legal entity: linked, or found in the ERP by its key (and then
        linked in ``refs``'s transaction); ``None`` while the ERP has none."""
        linked = await self._external(refs, "legal_entity", legal_entity_id, target.instance,
                                      ErpObject.COMPANY)  # fmt: skip
        if linked is not None:
            return linked
        asked = self._missing.get((target.instance, legal_entity_id))
        if asked is not None and self._clock() - asked < self._miss_ttl:
            return None
        found = await target.erp.find(ErpObject.COMPANY, legal_entity_id)
        if found is None:
            self._missing[(target.instance, legal_entity_id)] = self._clock()
            return None
        self._missing.pop((target.instance, legal_entity_id), None)
        await refs.link("legal_entity", legal_entity_id, found)
        return found.external_id

    async def link_company(
        self,
        refs: AbstractCrossReferences,
        instance: str,
        legal_entity_id: str,
        company: str,
        *,
        actor: str,
        why: str,
    ) -> ExternalRef:
        """Link a legal entity to the ERP company an operator names, audited (``XrefConflict``
        if either is linked to another already)."""
        ref = ExternalRef(
            system=SystemKind.ERP, instance=instance, object_type=ErpObject.COMPANY.value,
            external_id=company,
        )  # fmt: skip
        await refs.link_by_hand("legal_entity", legal_entity_id, ref, actor=actor, why=why)
        self._missing.pop((instance, legal_entity_id), None)
        return ref

    async def employee(
        self, refs: AbstractCrossReferences, instance: str, worker_id: str
    ) -> str | None:
        """The ERP employee of a worker, if mapped."""
        return await self._external(refs, "worker", worker_id, instance, ErpObject.EMPLOYEE)

    async def work(
        self,
        refs: AbstractCrossReferences,
        instance: str,
        project_id: str,
        work_item_id: str | None,
    ) -> str | None:
        """The ERP work an entry books on: its task when linked, else its project."""
        if work_item_id is not None:
            task = await self._external(refs, "work_item", work_item_id, instance, ErpObject.TASK)
            if task is not None:
                return task
        return await self._external(refs, "project", project_id, instance, ErpObject.PROJECT)

    @staticmethod
    async def _external(
        refs: AbstractCrossReferences,
        kind: str,
        canonical_id: str,
        instance: str,
        object_type: ErpObject,
    ) -> str | None:
        return await refs.external_id(
            kind, canonical_id, system=ERP, instance=instance, object_type=object_type.value
        )
