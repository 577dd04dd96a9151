"""Residency is enforced where data leaves: the connector instance a legal entity routes to."""

import pytest

from tandem_connectors.routing import Instance, InstanceRouter, NoRoute, ResidencyViolation
from tandem_messaging import PermanentError

EU = Instance("tryton-eu", regions=frozenset({"eu"}))
US = Instance("tryton-us", regions=frozenset({"us"}))
GLOBAL = Instance("tryton-global")


def test_entities_route_by_their_own_rule_then_by_region() -> None:
    router = InstanceRouter(
        "erp", by_legal_entity={"le-in": GLOBAL}, by_region={"eu": EU, "us": US}
    )
    assert router.route("le-de", "eu") is EU
    assert router.route("le-us", "us") is US
    assert router.route("le-in", "apac") is GLOBAL


def test_an_entity_without_a_route_is_refused() -> None:
    router = InstanceRouter("erp", by_region={"eu": EU})
    with pytest.raises(NoRoute, match="no erp instance for le-uk in region uk"):
        router.route("le-uk", "uk")


def test_a_misconfigured_route_cannot_move_data_out_of_its_region() -> None:
    # Someone points a German entity at the US instance: refused, and permanent.
    router = InstanceRouter("erp", by_legal_entity={"le-de": US}, by_region={"eu": EU})
    with pytest.raises(ResidencyViolation) as caught:
        router.route("le-de", "eu")
    assert isinstance(caught.value, PermanentError)
    assert caught.value.reason == "residency_violation"
