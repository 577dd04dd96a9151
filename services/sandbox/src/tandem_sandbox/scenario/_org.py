"""Legal entities, the org tree (group, regions, practices), roles and skills."""

from __future__ import annotations

from dataclasses import dataclass

from tandem_contracts import Money
from tandem_contracts.entities import (
    LegalEntity,
    OrgUnit,
    OrgUnitType,
    Role,
    Skill,
    TaxRegistration,
)
from tandem_sandbox.scenario._catalog import (
    ENTITIES,
    PRACTICES,
    REGIONS,
    ROLES,
    SKILLS,
    EntitySpec,
    RoleSpec,
)
from tandem_sandbox.scenario._context import Context

__all__ = ["Org", "build_org"]


@dataclass(frozen=True)
class Org:
    """The firm's structure plus the lookups later builders need."""

    legal_entities: tuple[LegalEntity, ...]
    org_units: tuple[OrgUnit, ...]
    roles: tuple[Role, ...]
    skills: tuple[Skill, ...]
    entity_ids: dict[str, str]
    entity_specs: dict[str, EntitySpec]
    group_id: str
    region_ids: dict[str, str]
    practice_ids: dict[str, str]
    role_specs: dict[str, RoleSpec]
    skill_practice: dict[str, str | None]
    certifications: frozenset[str]

    def spec(self, legal_entity_id: str) -> EntitySpec:
        """Return the catalogue spec of a legal entity."""
        return self.entity_specs[legal_entity_id]

    def region_of(self, legal_entity_id: str) -> str:
        """Return the region org unit a legal entity belongs to."""
        return self.region_ids[self.spec(legal_entity_id).region]


def build_org(ctx: Context) -> Org:
    """Build the legal entities, the org tree, the roles and the skills."""
    entities = tuple(_legal_entity(ctx, spec) for spec in ENTITIES)
    group = OrgUnit(id=ctx.new_id(), type=OrgUnitType.GROUP, name="Tandem Group")
    regions = {
        key: OrgUnit(id=ctx.new_id(), type=OrgUnitType.REGION, name=name, parent_id=group.id)
        for key, name in REGIONS
    }
    practices = {
        key: OrgUnit(id=ctx.new_id(), type=OrgUnitType.PRACTICE, name=name, parent_id=group.id)
        for key, name in PRACTICES
    }
    roles = {_role(ctx, spec): spec for spec in ROLES}
    skills = {
        Skill(id=ctx.new_id(), name=name, category=cat): (pr, cert)
        for name, cat, pr, cert in SKILLS
    }
    return Org(
        legal_entities=entities,
        org_units=(group, *regions.values(), *practices.values()),
        roles=tuple(roles),
        skills=tuple(skills),
        entity_ids={spec.key: entity.id for spec, entity in zip(ENTITIES, entities, strict=True)},
        entity_specs={entity.id: spec for spec, entity in zip(ENTITIES, entities, strict=True)},
        group_id=group.id,
        region_ids={key: unit.id for key, unit in regions.items()},
        practice_ids={key: unit.id for key, unit in practices.items()},
        role_specs={role.id: spec for role, spec in roles.items()},
        skill_practice={skill.id: practice for skill, (practice, _) in skills.items()},
        certifications=frozenset(skill.id for skill, (_, cert) in skills.items() if cert),
    )


def _legal_entity(ctx: Context, spec: EntitySpec) -> LegalEntity:
    registrations = (
        () if spec.tax_id is None else (TaxRegistration(country=spec.country, tax_id=spec.tax_id),)
    )
    return LegalEntity(
        id=ctx.new_id(),
        name=spec.name,
        country=spec.country,
        functional_currency=spec.currency,
        data_residency_region=spec.residency,
        tax_registrations=registrations,
    )


def _role(ctx: Context, spec: RoleSpec) -> Role:
    return Role(
        id=ctx.new_id(),
        name=spec.name,
        default_bill_rate=Money.of(spec.bill_usd, "USD"),
        default_cost_rate=Money.of(spec.cost_usd, "USD"),
    )
