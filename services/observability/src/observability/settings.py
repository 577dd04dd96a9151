"""observability settings, read from ``TANDEM_*`` variables (see the README's table)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tandem_service_kit import ServiceSettings

__all__ = ["ParkingLotSettings", "Settings"]


class ParkingLotSettings(BaseModel):
    """Where one service's parked-message API is, and the service credentials to call it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1, max_length=500, pattern=r"^https?://")
    """The service's api base URL (``http://time-expense-api:8000``)."""
    api_key: SecretStr
    """An API key of that service granting ``parked:read``, ``parked:replay`` and
    ``parked:discard``: the console acts on an operator's behalf with it, and audits who."""


class Settings(ServiceSettings):
    """Everything observability is configured by."""

    service_name: str = "observability"
    trace_url_template: str | None = Field(default=None, max_length=500)
    """A link from a timeline step to its trace, ``{trace_id}`` replaced (Jaeger:
    ``https://jaeger.example/trace/{trace_id}``); none: steps show the bare trace id."""
    parking_lots: dict[str, ParkingLotSettings] = Field(default_factory=dict)
    """Service name → its parked-message API: the console's parking lot of every service."""
    rabbitmq_management_url: str | None = Field(default=None, max_length=500)
    """The broker's management API (``http://user:pass@rabbitmq:15672``): queue depth,
    consumers and partition ownership in the fleet view; none: not shown."""
    rabbitmq_vhost: str = "/"
    kubernetes_namespace: str | None = Field(default=None, max_length=63)
    """The namespace whose Tandem workloads the fleet view reads (in-cluster config,
    read-only RBAC from the chart); none: the fleet view shows the broker side only."""
    capacity_minutes_per_day: int = Field(default=480, ge=1, le=1440)
    """A consultant's available minutes per working day (Monday to Friday): the
    utilization denominator."""
    utilization_target_pct: Decimal = Field(default=Decimal("75"), gt=0, le=100)
    """Billable utilization target (DOMAIN.md §5: healthy above about 70 %)."""
    utilization_low_ratio: Decimal = Field(default=Decimal("0.90"), gt=0, le=1)
    """Below target x this ratio a consultant's month is a breach (Certinia: 90 %)."""
    utilization_burnout_pct: Decimal = Field(default=Decimal("85"), gt=0, le=1000)
    """Above this a consultant's month is a burnout breach."""
    utilization_grace_days: int = Field(default=5, ge=0, le=60)
    """A month is checked against the thresholds only this many days after it ended: time is
    approved for days after a month closes, and a breach, once announced, stays announced."""
    kpi_interval_s: float = Field(default=10.0, gt=0, le=3600)
    """How often recorded steps are folded into the KPIs and SLO measures."""
    utilization_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    """How often ended months' utilization is checked against the thresholds (first after
    one interval)."""
    step_retention_days: float = Field(default=400.0, gt=0, le=3650)
    """How long timeline steps are kept."""
    # Recording a step is one row in a batched insert: big batches, many lanes.
    concurrency: int = Field(default=8, ge=1, le=10_000)
    prefetch: int = Field(default=512, ge=1, le=10_000)
    batch_size: int = Field(default=128, ge=1, le=500)
