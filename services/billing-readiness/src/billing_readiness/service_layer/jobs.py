"""billing-readiness's scheduled jobs (run on one replica at a time by the kit's scheduler)."""

from __future__ import annotations

from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.handlers import SERVICE
from billing_readiness.service_layer.readiness import propose_ready
from tandem_service_kit import Job

__all__ = ["jobs"]


def jobs(deps: Dependencies) -> list[Job]:
    """The invoice-readiness pass (answers how many invoices it proposed)."""

    async def readiness() -> int:
        outcome = await propose_ready(deps, service=SERVICE)
        return sum(1 for ids in outcome.values() for i in ids if i.startswith("inv-"))

    return [Job("invoice-readiness", deps.settings.readiness_interval_s, readiness)]
