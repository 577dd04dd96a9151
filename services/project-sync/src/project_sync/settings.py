"""project-sync settings, read from ``TANDEM_*`` variables (see the README's table)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator

from project_sync.domain import DEFAULT_STAGE_MAP, StageMap
from project_sync.domain.saga import Step
from tandem_connectors.systems import SystemsSettings
from tandem_contracts import CurrencyCode
from tandem_contracts.entities import OpportunityStatus
from tandem_service_kit import ServiceSettings

__all__ = ["DEFAULT_STEP_TIMEOUTS_S", "Settings"]

_DAY_S = 86_400.0
DEFAULT_STEP_TIMEOUTS_S: dict[Step, float] = {
    Step.VALIDATE: 300.0,
    Step.ERP_SHELL: 900.0,
    Step.PSA_SHELL: 900.0,
    Step.CRM_WRITEBACK: 900.0,
    Step.SHELL_CREATED: 300.0,
    Step.AWAITING_SOW: 14 * _DAY_S,
    Step.ACTIVATING: 3600.0,
    Step.COMPENSATING: 3600.0,
}
"""How long a saga may stay at each step before it is stuck (steps not named: no limit)."""

PositiveSeconds = Annotated[float, Field(gt=0)]


class Settings(ServiceSettings, SystemsSettings):
    """Everything project-sync is configured by (systems of record: ``SystemsSettings``)."""

    service_name: str = "project-sync"
    stage_map: dict[str, OpportunityStatus] = Field(default_factory=lambda: dict(DEFAULT_STAGE_MAP))
    """The tenant's CRM stages and their canonical statuses (at least one committing)."""
    entity_currencies: dict[str, frozenset[CurrencyCode]] = Field(default_factory=dict)
    """Legal entity id → the currencies it may sell in; empty: from the reference data."""
    step_timeouts_s: dict[Step, PositiveSeconds] = Field(
        default_factory=lambda: dict(DEFAULT_STEP_TIMEOUTS_S)
    )
    """How long a saga may stay at each step before it is stuck and alerted."""
    commit_to_active_slo_s: float = Field(default=3600.0, gt=0)
    """The objective from ``OpportunityCommitted`` to ``ProjectActivated`` for the sagas that
    need no statement of work to wait for."""
    watchdog_interval_s: float = Field(default=60.0, gt=0)
    """How often sagas are looked at for being stuck."""
    resume_interval_s: float = Field(default=30.0, gt=0)
    """How often held sagas whose dependency is met by now are resumed (the sweep behind the
    ``CustomerLinked`` release: a link committed while a saga was still deciding)."""
    entity_by_country: dict[str, str] = Field(default_factory=dict)
    """A CRM account's country (ISO alpha-2) → the legal entity that sells to it: the
    canonical customer's legal entity; a country not named takes ``default_legal_entity``."""
    default_legal_entity: str = Field(default="le-us", min_length=1, max_length=64)
    """The selling legal entity of accounts whose country ``entity_by_country`` does not name,
    and of opportunities that name none."""
    entity_regions: dict[str, str] = Field(default_factory=dict)
    """Legal entity → its data residency region (envelopes, ERP routing); others take
    ``default_region``."""
    default_region: str = Field(default="us", min_length=1, max_length=32)
    time_requires_assignment: bool = False
    """The tenant's projects take time only from workers assigned to them on the date
    (``AssignmentConfirmed``): the billing-code check and ``ProjectActivated``'s flags."""
    sow_from_opportunity: bool = False
    """For tenants without a contract system: a commit also approves a time-and-materials
    contract made from the opportunity itself, so the saga runs to ``ProjectActivated``."""
    # Every saga step calls a system of record: small batches, so one slow write holds few
    # others, and lanes enough to keep many opportunities moving at once.
    concurrency: int = Field(default=16, ge=1, le=10_000)
    prefetch: int = Field(default=64, ge=1, le=10_000)
    batch_size: int = Field(default=4, ge=1, le=8)
    probe_max_s: float = Field(default=5.0, gt=0, le=600)
    """The longest wait between probes of an unavailable system: how soon after it is back
    the held sagas move on."""

    @field_validator("stage_map")
    @classmethod
    def _check_committing_stage(
        cls, value: dict[str, OpportunityStatus]
    ) -> dict[str, OpportunityStatus]:
        StageMap(value)  # refuses a map with no committing stage
        return value

    def stages(self) -> StageMap:
        """The stage map the ingestion classifies CRM stages with."""
        return StageMap(self.stage_map)

    def legal_entity_of(self, country: str) -> str:
        """The legal entity that sells to an account in ``country``."""
        return self.entity_by_country.get(country.upper(), self.default_legal_entity)

    def region_of(self, legal_entity_id: str) -> str:
        """The residency region of ``legal_entity_id``'s data."""
        return self.entity_regions.get(legal_entity_id, self.default_region)

    def step_limits(self) -> dict[Step, timedelta]:
        """The step timeouts as the watchdog's ``is_stuck`` takes them."""
        return {step: timedelta(seconds=s) for step, s in self.step_timeouts_s.items()}
