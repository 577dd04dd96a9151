"""Governance: committed contracts match the code, and incompatible changes need a new version."""

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tandem_contracts import (
    CATALOGUE,
    Catalogue,
    Event,
    __version__,
    asyncapi_document,
    check_catalogue,
    event_json_schema,
    schema_filename,
)
from tandem_contracts.events import OpportunityLost, TimePostingFailed

CONTRACTS = Path(__file__).resolve().parents[4] / "docs" / "contracts"


def test_committed_schemas_are_compatible_with_the_code() -> None:
    assert check_catalogue(CONTRACTS / "schemas", CATALOGUE) == []


def test_committed_contracts_are_up_to_date() -> None:
    # `make contracts` regenerates them; a stale copy misleads every consumer.
    for model in CATALOGUE:
        committed = json.loads((CONTRACTS / "schemas" / schema_filename(model)).read_text())
        assert committed == event_json_schema(model), f"run `make contracts` ({model.event_type})"
    committed_doc = json.loads((CONTRACTS / "asyncapi.json").read_text())
    assert committed_doc == asyncapi_document(CATALOGUE, version=__version__)


def test_the_asyncapi_document_is_complete_and_its_references_resolve() -> None:
    doc = asyncapi_document(CATALOGUE, version=__version__)
    assert doc["asyncapi"] == "3.0.0"
    assert len(doc["channels"]) == len(doc["operations"]) == len(list(CATALOGUE)) == 45

    def resolve(ref: str) -> Any:
        if ref.startswith("./"):
            return json.loads((CONTRACTS / ref).read_text())
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert resolve(ref) is not None, ref
    channel = doc["channels"]["TimeApproved.v1"]
    assert channel["address"] == "time.TimeApproved.v1.{region}.{legalEntityId}"


# Variants of published events, as a careless change would make them.
class LostWithoutStage(Event):
    event_type: ClassVar[str] = "OpportunityLost"
    context = OpportunityLost.context
    system_of_record = OpportunityLost.system_of_record
    producers = OpportunityLost.producers
    subject_type = OpportunityLost.subject_type

    opportunity_id: str
    reason: str | None = None
    lost_at: datetime

    @property
    def subject_id(self) -> str:
        return self.opportunity_id


class LostWithNumericReason(LostWithoutStage):
    stage: str
    reason: int | None = None  # type: ignore[assignment]


class LostWithRequiredCode(OpportunityLost):
    reason_code: str


class LostWithOptionalCode(OpportunityLost):
    reason_code: str | None = None


class FewerReasons(StrEnum):
    PERIOD_CLOSED = "period_closed"
    ERP_REJECTED = "erp_rejected"


class FailedWithFewerReasons(TimePostingFailed):
    reason: FewerReasons  # type: ignore[assignment]


def published(tmp_path: Path, *models: type[Event]) -> Path:
    for model in models:
        (tmp_path / schema_filename(model)).write_text(json.dumps(event_json_schema(model)))
    return tmp_path


@pytest.mark.parametrize(
    ("original", "changed", "kind", "path"),
    [
        (OpportunityLost, LostWithoutStage, "field_removed", "payload.stage"),
        (OpportunityLost, LostWithNumericReason, "field_retyped", "payload.reason"),
        (OpportunityLost, LostWithRequiredCode, "required_field_added", "payload.reason_code"),
        (TimePostingFailed, FailedWithFewerReasons, "enum_value_removed", "payload.reason"),
    ],
)
def test_an_incompatible_change_without_a_version_bump_fails(
    tmp_path: Path, original: type[Event], changed: type[Event], kind: str, path: str
) -> None:
    committed = published(tmp_path, original)
    catalogue = Catalogue()
    catalogue.register(changed)
    problems = check_catalogue(committed, catalogue)
    assert [(p.kind, p.path) for p in problems] == [(kind, path)]


def test_the_same_change_with_a_version_bump_passes(tmp_path: Path) -> None:
    class LostV2(LostWithRequiredCode):
        schema_version: ClassVar[int] = 2

    committed = published(tmp_path, OpportunityLost)
    catalogue = Catalogue()
    catalogue.register(OpportunityLost)
    catalogue.register(LostV2, upcast=lambda old: LostV2(**old.model_dump(), reason_code="x"))
    assert check_catalogue(committed, catalogue) == []


def test_a_compatible_change_passes(tmp_path: Path) -> None:
    committed = published(tmp_path, OpportunityLost)
    catalogue = Catalogue()
    catalogue.register(LostWithOptionalCode)
    assert check_catalogue(committed, catalogue) == []


def test_dropping_a_published_version_is_incompatible(tmp_path: Path) -> None:
    committed = published(tmp_path, OpportunityLost)
    problems = check_catalogue(committed, Catalogue())
    assert [p.kind for p in problems] == ["version_removed"]
