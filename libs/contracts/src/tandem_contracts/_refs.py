"""External references: how a canonical entity is known in each system of record."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tandem_contracts._types import CanonicalModel, UtcDatetime

__all__ = ["ExternalRef", "SyncError", "SyncStatus", "SystemKind"]


class SystemKind(StrEnum):
    """The kind of system an id comes from."""

    CRM = "crm"
    ERP = "erp"
    PSA = "psa"
    RM = "rm"
    HRIS = "hris"
    TAX = "tax"
    BANK = "bank"


class SyncStatus(StrEnum):
    """Where a reference stands in its last sync (Kantata's external_reference values)."""

    PENDING = "pending"
    SUCCESSFUL = "successful"
    FAILED = "failed"


class SyncError(CanonicalModel):
    """The last error a sync to this reference met."""

    code: str = Field(max_length=120)
    message: str = Field(max_length=2000)
    retryable: bool


class ExternalRef(CanonicalModel):
    """An entity's id in one system instance.

    Unique on (system, instance, object_type, external_id).
    """

    system: SystemKind
    instance: str = Field(min_length=1, max_length=120)
    object_type: str = Field(min_length=1, max_length=120)
    external_id: str = Field(min_length=1, max_length=255)
    external_url: str | None = Field(default=None, max_length=2000)
    external_version: str | None = Field(default=None, max_length=120)
    sync_status: SyncStatus = SyncStatus.SUCCESSFUL
    last_synced_at: UtcDatetime | None = None
    last_error: SyncError | None = None
