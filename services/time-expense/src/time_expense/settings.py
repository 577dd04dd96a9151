"""time-expense settings, read from ``TANDEM_*`` variables (see the README's table)."""

from __future__ import annotations

from pydantic import Field

from tandem_connectors.systems import SystemsSettings
from tandem_service_kit import ServiceSettings
from time_expense.domain import LatePolicy

__all__ = ["Settings"]


class Settings(ServiceSettings, SystemsSettings):
    """Everything time-expense is configured by (systems of record: ``SystemsSettings``)."""

    service_name: str = "time-expense"
    late_time_policy: LatePolicy = LatePolicy.POST_TO_NEXT_OPEN
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()
    reconcile_interval_s: float = Field(default=3600.0, gt=0)
    reconcile_quiet_s: float = Field(default=300.0, ge=0)
    period_watch_interval_s: float = Field(default=300.0, gt=0)
    """How often the ERPs' accounting periods are read for closes and reopens."""
    # Few lanes with large batches: one ERP write, one outbox write and one commit per batch.
    # ``make bench-month-end`` runs 2 lanes of 256, measured fastest into the sandbox ERP; the
    # defaults keep more lanes and smaller batches for latency at ordinary load.
    concurrency: int = Field(default=4, ge=1, le=10_000)
    prefetch: int = Field(default=512, ge=1, le=10_000)
    batch_size: int = Field(default=128, ge=1, le=500)
    probe_max_s: float = Field(default=5.0, gt=0, le=600)
    """The longest wait between probes of an unavailable ERP: how soon after it is back the
    held postings drain."""
