"""time-expense settings, read from ``TANDEM_*`` variables (see the README's table)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from tandem_service_kit import ServiceSettings
from time_expense.domain import LatePolicy

__all__ = ["ErpInstanceSettings", "Settings"]


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


class Settings(ServiceSettings):
    """Everything time-expense is configured by."""

    service_name: str = "time-expense"
    erp_instances: dict[str, ErpInstanceSettings] = Field(default_factory=dict)
    erp_by_region: dict[str, str] = Field(default_factory=dict)
    erp_by_legal_entity: dict[str, str] = Field(default_factory=dict)
    late_time_policy: LatePolicy = LatePolicy.POST_TO_NEXT_OPEN
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()
    batch_size: int = Field(default=16, ge=1, le=500)
