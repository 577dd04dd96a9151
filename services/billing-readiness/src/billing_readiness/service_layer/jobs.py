"""billing-readiness's scheduled jobs (run on one replica at a time by the kit's scheduler).

Each answers what it found, which the kit shows as ``tandem_job_last_found``: the invoices
proposed, the leaks announced, the reconciliation mismatches.
"""

from __future__ import annotations

from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.handlers import SERVICE
from billing_readiness.service_layer.leakage import report_leakage
from billing_readiness.service_layer.readiness import propose_ready
from billing_readiness.service_layer.reconcile import reconcile
from tandem_service_kit import Job

__all__ = ["jobs"]


def jobs(deps: Dependencies) -> list[Job]:
    """The invoice-readiness pass, the leakage pass and the invoice reconciliation."""

    async def readiness() -> int:
        outcome = await propose_ready(deps, service=SERVICE)
        return sum(1 for ids in outcome.values() for i in ids if i.startswith("inv-"))

    async def leakage() -> int:
        return await report_leakage(deps, service=SERVICE)

    async def reconciliation() -> int:
        report = await reconcile(deps, announce_as=SERVICE)
        return len(report.mismatches)

    settings = deps.settings
    return [
        Job("invoice-readiness", settings.readiness_interval_s, readiness),
        Job("revenue-leakage", settings.leakage_interval_s, leakage),
        Job("reconcile", settings.reconcile_interval_s, reconciliation),
    ]
