"""The registry refuses catalogues that could not decode every published version."""

from typing import ClassVar

import pytest

from tandem_contracts import Catalogue, RegistryError, UnknownSchemaVersionError
from tandem_contracts.events import OpportunityLost


class LostV2(OpportunityLost):
    schema_version: ClassVar[int] = 2


class LostV3(OpportunityLost):
    schema_version: ClassVar[int] = 3


def keep(old: OpportunityLost) -> OpportunityLost:
    return old


def test_a_version_is_registered_once() -> None:
    catalogue = Catalogue()
    catalogue.register(OpportunityLost)
    with pytest.raises(RegistryError, match="already registered"):
        catalogue.register(OpportunityLost)


def test_a_later_version_needs_its_predecessor_and_an_upcaster() -> None:
    catalogue = Catalogue()
    with pytest.raises(RegistryError, match="needs v1"):
        catalogue.register(LostV2, upcast=keep)
    catalogue.register(OpportunityLost)
    with pytest.raises(RegistryError, match="upcaster"):
        catalogue.register(LostV2)
    with pytest.raises(RegistryError, match="needs v2"):
        catalogue.register(LostV3, upcast=keep)


def test_v1_has_nothing_to_upcast_from() -> None:
    with pytest.raises(RegistryError, match="nothing to upcast"):
        Catalogue().register(OpportunityLost, upcast=keep)


def test_lookup_by_type_and_version() -> None:
    catalogue = Catalogue()
    catalogue.register(OpportunityLost)
    catalogue.register(LostV2, upcast=keep)
    assert catalogue.model("OpportunityLost", 1) is OpportunityLost
    assert catalogue.current("OpportunityLost") is LostV2
    assert catalogue.current_models() == [LostV2]
    assert list(catalogue) == [OpportunityLost, LostV2]
    with pytest.raises(UnknownSchemaVersionError):
        catalogue.model("OpportunityLost", 3)
