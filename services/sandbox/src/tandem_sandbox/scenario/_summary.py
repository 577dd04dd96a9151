"""Printable counts of a firm and its canonical JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields

from pydantic import BaseModel

from tandem_sandbox.scenario._firm import Firm

__all__ = ["summary", "to_json"]


def to_json(firm: Firm) -> str:
    """Serialise the firm as canonical JSON (sorted keys, no whitespace) for hashing and dumps."""
    document: dict[str, object] = {"seed": firm.seed, "month": firm.month.isoformat()}
    for spec in fields(firm):
        value = getattr(firm, spec.name)
        if isinstance(value, tuple):
            document[spec.name] = [_dump(item) for item in value]
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dump(item: BaseModel) -> object:
    return item.model_dump(mode="json")


def summary(firm: Firm) -> dict[str, int | str]:
    """Count the firm's entities in total, per legal entity (by country) and per currency."""
    country = {entity.id: entity.country for entity in firm.legal_entities}
    counts: dict[str, int | str] = {
        "seed": firm.seed,
        "month": firm.month.strftime("%Y-%m"),
        "legal_entities": len(firm.legal_entities),
        "consultants": len(firm.workers),
        "resources": len(firm.resources),
        "customers": len(firm.customers),
        "rate_cards": len(firm.rate_cards),
        "opportunities": len(firm.opportunities),
        "projects": len(firm.projects),
        "assignments": len(firm.assignments),
        "cross_entity_entries": sum(
            e.worker_legal_entity_id != e.project_legal_entity_id for e in firm.time_entries
        ),
        "timesheets": len(firm.timesheets),
        "entries": len(firm.time_entries),
        "minutes": sum(e.duration_minutes for e in firm.time_entries),
        "expenses": len(firm.expenses),
        "fx_rates": len(firm.fx_rates),
        "periods": len(firm.periods),
    }
    per: Counter[str] = Counter()
    per.update(f"entity.{country[w.legal_entity_id]}.consultants" for w in firm.workers)
    per.update(f"entity.{country[p.legal_entity_id]}.projects" for p in firm.projects)
    for entry in firm.time_entries:
        per[f"entity.{country[entry.project_legal_entity_id]}.minutes"] += entry.duration_minutes
    per.update(f"currency.{c.currency}.customers" for c in firm.customers)
    per.update(f"currency.{p.currency}.projects" for p in firm.projects)
    per.update(f"currency.{x.amount.currency}.expenses" for x in firm.expenses)
    counts.update(sorted(per.items()))
    return counts
