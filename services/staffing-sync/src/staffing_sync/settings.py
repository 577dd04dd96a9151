"""staffing-sync settings, read from ``TANDEM_*`` variables (see the README's table)."""

from __future__ import annotations

from pydantic import Field

from tandem_connectors.systems import SystemsSettings
from tandem_service_kit import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings, SystemsSettings):
    """Everything staffing-sync is configured by (systems of record: ``SystemsSettings``)."""

    service_name: str = "staffing-sync"
    entity_regions: dict[str, str] = Field(default_factory=dict)
    """Legal entity → its data residency region (ERP routing); others take
    ``default_region``."""
    default_region: str = Field(default="us", min_length=1, max_length=32)
    home_legal_entity: str | None = Field(default=None, min_length=1, max_length=64)
    """The legal entity a PSA rate card of the whole firm or of an org unit is announced under
    (the group's home entity); unset: the first of ``entity_regions`` (none: such a card is
    set aside, saying so)."""
    psa_instance: str | None = Field(default=None, min_length=1, max_length=64)
    """The PSA instance workers become resources in; unset: the one configured."""
    capacity_minutes_per_day: int = Field(default=480, ge=0, le=1440)
    """A resource's capacity per working day (the HRIS gives none)."""
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()
    """Allowed (employer entity, project entity) pairs, directional; none by default
    (DOMAIN.md §7.5): a booking across a pair not allowed is confirmed with a warning."""
    entity_countries: dict[str, str] = Field(default_factory=dict)
    """Legal entity → its country: a project's country in staffing options (location); a
    project of an entity not listed matches no worker's country."""
    request_same_role_only: bool = True
    """Whether a request's candidates are only workers of the role it asks for (the default:
    a request is for a role, priced by that role's rate, as resource managers search in
    Kantata or Certinia). Off, every worker is a candidate, another role at half marks on
    skills: a wider search, and several times the work on a large bench (``make
    bench-staffing``)."""
    request_allowed_entities_only: bool = False
    """Whether a request's candidates are only workers of the project's legal entity and of
    the entities allowed to staff it (``intercompany_pairs``); else every entity, a pair not
    allowed scored 0 and warned."""
    # Every worker event calls the PSA and the ERP: small batches, many lanes.
    concurrency: int = Field(default=16, ge=1, le=10_000)
    prefetch: int = Field(default=64, ge=1, le=10_000)
    batch_size: int = Field(default=4, ge=1, le=8)
    probe_max_s: float = Field(default=5.0, gt=0, le=600)

    def region_of(self, legal_entity_id: str) -> str:
        """The residency region of ``legal_entity_id``'s data."""
        return self.entity_regions.get(legal_entity_id, self.default_region)

    def home_entity(self) -> str | None:
        """The legal entity firm-wide rate cards are announced under (None: none known)."""
        return self.home_legal_entity or next(iter(self.entity_regions), None)

    def psa_name(self) -> str:
        """The PSA instance resources are kept in (``ValueError`` when none can be told)."""
        if self.psa_instance is not None:
            if self.psa_instance not in self.psa_instances:
                raise ValueError(f"PSA instance {self.psa_instance!r} is not configured")
            return self.psa_instance
        if len(self.psa_instances) != 1:
            raise ValueError("name TANDEM_PSA_INSTANCE: not exactly one PSA instance configured")
        return next(iter(self.psa_instances))
