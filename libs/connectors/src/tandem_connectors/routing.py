"""Policy-driven routing: which connector instance serves a legal entity, so that residency is
enforced at the connector (an EU entity's data goes to the EU ERP, never elsewhere).

Rules are chosen most specific first: the legal entity's own, then its residency region's.
An instance may declare the regions it may hold data of; a route that would send data to an
instance outside its region is refused, whatever the configuration says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem_connectors.errors import RequestRejected

__all__ = ["Instance", "InstanceRouter", "NoRoute", "ResidencyViolation"]


class NoRoute(RequestRejected):
    """No instance of the system serves this legal entity or its region."""

    def __init__(self, message: str) -> None:
        super().__init__("no_route", message)


class ResidencyViolation(RequestRejected):
    """The configured instance may not hold data of the entity's residency region."""

    def __init__(self, message: str) -> None:
        super().__init__("residency_violation", message)


@dataclass(frozen=True)
class Instance:
    """A connector instance, e.g. ``Instance("tryton-eu", regions=frozenset({"eu"}))``.

    Empty ``regions`` means the instance may hold data of any region.
    """

    name: str
    regions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class InstanceRouter:
    """Routes (legal entity, region) to an instance of one system kind."""

    system: str
    by_legal_entity: Mapping[str, Instance] = field(default_factory=dict)
    by_region: Mapping[str, Instance] = field(default_factory=dict)

    def route(self, legal_entity_id: str, region: str) -> Instance:
        """Return the instance for this entity; raise ``NoRoute`` or ``ResidencyViolation``."""
        instance = self.by_legal_entity.get(legal_entity_id) or self.by_region.get(region)
        if instance is None:
            raise NoRoute(f"no {self.system} instance for {legal_entity_id} in region {region}")
        if instance.regions and region not in instance.regions:
            raise ResidencyViolation(
                f"{self.system} instance {instance.name} may not hold {region} data "
                f"({legal_entity_id})"
            )
        return instance
