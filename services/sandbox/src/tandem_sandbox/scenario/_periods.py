"""Accounting periods per legal entity: last month closed, this month and next open."""

from __future__ import annotations

from tandem_contracts.entities import AccountingPeriod, LegalEntity, PeriodStatus
from tandem_sandbox.scenario._context import Context, add_months, month_end

__all__ = ["build_periods"]

_SOURCE_STATUS = {PeriodStatus.OPEN: "Open", PeriodStatus.CLOSED: "Closed"}


def build_periods(ctx: Context, entities: tuple[LegalEntity, ...]) -> tuple[AccountingPeriod, ...]:
    """Return three monthly periods per legal entity around the scenario month."""
    periods = []
    for entity in entities:
        for offset in (-1, 0, 1):
            start = add_months(ctx.month, offset)
            status = PeriodStatus.CLOSED if offset < 0 else PeriodStatus.OPEN
            periods.append(
                AccountingPeriod(
                    id=ctx.new_id(),
                    legal_entity_id=entity.id,
                    name=f"{start.year}-{start.month:02d}",
                    start_date=start,
                    end_date=month_end(start),
                    status=status,
                    source_status=_SOURCE_STATUS[status],
                )
            )
    return tuple(periods)
