"""Revenue leakage (DOMAIN.md §5): value earned and not billed, found from the charges.

``leaks_now`` answers the report for the API; the scheduled ``report_leakage`` announces each
project's leak once a day as ``RevenueLeakageDetected`` (ids and amounts only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from billing_readiness.domain import ChargeView, Leak, find_leaks
from billing_readiness.service_layer.dependencies import Dependencies

__all__ = ["leaks_now"]


async def leaks_now(deps: Dependencies, project_id: str | None) -> Sequence[Leak]:
    """The leaks of one project, or of every project with open or written-off charges."""
    today: date = deps.clock().date()
    async with deps.transactions() as uow:
        projects = (
            [project_id]
            if project_id is not None
            else await uow.charges.projects_to_invoice("9999-12", 10_000)
        )
        views: list[ChargeView] = []
        for project in projects:
            for record in await uow.charges.open_of_project(project):
                views.append(ChargeView(record.line, record.status == "invoiced"))
    return find_leaks(
        views, today=today, after_days=deps.settings.leakage_after_days, standard_rates={}
    )
