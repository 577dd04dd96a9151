"""Settings of the sandbox process, read from ``TANDEM_*`` like every Tandem process."""

from __future__ import annotations

from pydantic import Field

from tandem_service_kit import ServiceSettings

__all__ = ["SYSTEMS", "SandboxSettings"]

SYSTEMS = ("crm", "psa", "hris", "erp")
"""The systems of record the sandbox serves; each on ``base_port + 1 + index``."""


class SandboxSettings(ServiceSettings):
    """Where the sandbox listens and how it behaves before anyone changes a fault."""

    service_name: str = Field(default="sandbox", pattern=r"^[a-z][a-z0-9-]*$", max_length=63)
    base_port: int = Field(default=8700, ge=0, le=65530)
    """The control API's port; the systems take the next four. 0: ephemeral ports (tests)."""
    fault_seed: int = 7
    erp_concurrency_limit: int | None = Field(default=10, ge=1)
    """NetSuite-like: more concurrent ERP requests than this answer 429."""
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_retry_base_s: float = Field(default=0.1, gt=0, le=60)
    webhook_flush_after_s: float = Field(default=0.2, gt=0, le=60)
