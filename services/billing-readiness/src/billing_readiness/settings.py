"""billing-readiness settings, read from ``TANDEM_*`` variables (see the README's table)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from tandem_connectors.systems import SystemsSettings
from tandem_service_kit import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings, SystemsSettings):
    """Everything billing-readiness is configured by (systems of record: ``SystemsSettings``)."""

    service_name: str = "billing-readiness"
    entity_regions: dict[str, str] = Field(default_factory=dict)
    """Legal entity → its data residency region (ERP routing); others take
    ``default_region``."""
    default_region: str = Field(default="us", min_length=1, max_length=32)
    entity_countries: dict[str, str] = Field(default_factory=dict)
    """Legal entity → its country: the seller's country decides the tax of its invoices."""
    entity_currencies: dict[str, str] = Field(default_factory=dict)
    """Legal entity → its functional currency: an invoice in another currency carries the FX
    rate at its invoice date (AR converts at the invoice date, DOMAIN.md §7.4)."""
    cap_overage: Literal["hold", "write_off"] = "hold"
    """What becomes of work beyond a capped T&M contract's cap: held for a person to approve
    (the default), or written off at once (counted as leakage either way)."""
    require_po: bool = False
    """Whether a customer invoice needs the contract's purchase order number (held
    ``missing_po`` until an amended SOW brings one)."""
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()
    """Allowed (worker entity, project entity) pairs; none by default (DOMAIN.md §7.5): an
    intercompany charge of a pair not allowed is held."""
    intercompany_markup: Decimal = Field(default=Decimal("1.10"), ge=1, le=10)
    """Transfer price of intercompany time: cost x markup."""
    leakage_after_days: int = Field(default=10, ge=1, le=365)
    """Billable value older than this and not invoiced is reported as leakage."""
    readiness_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    """How often the readiness job proposes the invoices of ended billing periods."""
    leakage_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    """How often the leakage pass looks (each leak is announced once a day)."""
    reconcile_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    """How often the posted invoices of the recent months are reconciled with the ERP's."""
    # Every lane's charge writes are a few rows; ERP invoicing is one call per invoice.
    concurrency: int = Field(default=16, ge=1, le=10_000)
    prefetch: int = Field(default=128, ge=1, le=10_000)
    batch_size: int = Field(default=32, ge=1, le=500)

    def region_of(self, legal_entity_id: str) -> str:
        """The residency region of ``legal_entity_id``'s data."""
        return self.entity_regions.get(legal_entity_id, self.default_region)

    def country_of(self, legal_entity_id: str) -> str | None:
        """The country of ``legal_entity_id``, when configured."""
        return self.entity_countries.get(legal_entity_id)
