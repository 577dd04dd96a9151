"""time-expense settings, read from ``TANDEM_*`` variables (see the README's table)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from tandem_service_kit import ServiceSettings
from time_expense.domain import LatePolicy

__all__ = ["ErpInstanceSettings", "PsaInstanceSettings", "Settings", "WorkerRole"]

WorkerRole = Literal["consume", "ingest", "relay"]
"""What a worker process does: consume the postings queue (one ordered consumer), ingest the
PSA (polling and publishing landed records; one at a time across replicas), relay the outbox
(any number of replicas)."""


class ErpInstanceSettings(BaseModel):
    """One ERP instance: its flavour, where it is, and whose data it may hold."""

    kind: Literal["tryton", "sandbox"]
    url: str
    database: str | None = None  # Tryton only
    user: str = "admin"
    password: SecretStr = SecretStr("")
    regions: frozenset[str] = frozenset()
    requests_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=50, ge=1)
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class PsaInstanceSettings(BaseModel):
    """One PSA instance: where it is, the secret its webhooks are signed with, its limits."""

    url: str
    webhook_secret: SecretStr = SecretStr("")
    requests_per_second: float = Field(default=20.0, gt=0)
    burst: int = Field(default=20, ge=1)


class Settings(ServiceSettings):
    """Everything time-expense is configured by."""

    service_name: str = "time-expense"
    erp_instances: dict[str, ErpInstanceSettings] = Field(default_factory=dict)
    erp_by_region: dict[str, str] = Field(default_factory=dict)
    erp_by_legal_entity: dict[str, str] = Field(default_factory=dict)
    late_time_policy: LatePolicy = LatePolicy.POST_TO_NEXT_OPEN
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()
    psa_instances: dict[str, PsaInstanceSettings] = Field(default_factory=dict)
    tenant_id: str = "acme"
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    poll_lag_s: float = Field(default=2.0, ge=0, le=3600)
    ingest_interval_s: float = Field(default=0.2, gt=0, le=60)
    reconcile_interval_s: float = Field(default=3600.0, gt=0)
    reconcile_quiet_s: float = Field(default=300.0, ge=0)
    # Few lanes with large batches: one ERP write, one outbox write and one commit per batch
    # (``make bench-month-end`` measured 2 lanes of 256 fastest into the sandbox ERP).
    concurrency: int = Field(default=4, ge=1, le=10_000)
    prefetch: int = Field(default=512, ge=1, le=10_000)
    batch_size: int = Field(default=128, ge=1, le=500)
    worker_roles: frozenset[WorkerRole] = frozenset({"consume", "ingest", "relay"})
    probe_max_s: float = Field(default=5.0, gt=0, le=600)
    """The longest wait between probes of an unavailable ERP: how soon after it is back the
    held postings drain."""
