"""ErpDirectory: which ERP instance serves an entity, and its ERP ids through cross-references."""

import pytest

from tandem_connectors.directory import ErpDirectory
from tandem_connectors.fakes import FakeCrossReferences, FakeErp
from tandem_connectors.routing import Instance, InstanceRouter, NoRoute, ResidencyViolation
from tandem_connectors.xref import XrefConflict
from tandem_contracts import ExternalRef, SystemKind
from tandem_contracts.entities import LegalEntity

US = Instance("tryton-us", regions=frozenset({"us"}))
EU = Instance("tryton-eu", regions=frozenset({"eu"}))
LE_US = LegalEntity(
    id="le-us", name="Acme Consulting Inc.", country="US", functional_currency="USD",
    data_residency_region="us",
)  # fmt: skip
ERP_US = {"system": "erp", "instance": "tryton-us"}


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def directory(
    *, clock: Clock | None = None, routes: dict[str, Instance] | None = None
) -> ErpDirectory:
    """A directory over two fake ERPs, routing by region unless an entity has its own route."""
    router = InstanceRouter("erp", by_legal_entity=routes or {}, by_region={"us": US, "eu": EU})
    erps = {"tryton-us": FakeErp(instance="tryton-us"), "tryton-eu": FakeErp(instance="tryton-eu")}
    return ErpDirectory(router, erps, miss_ttl_s=30.0, clock=clock or Clock())


def erp_of(erps: ErpDirectory, instance: str) -> FakeErp:
    erp = erps.adapters[instance]
    assert isinstance(erp, FakeErp)
    return erp


def ref(object_type: str, external_id: str) -> ExternalRef:
    return ExternalRef(
        system=SystemKind.ERP, instance="tryton-us", object_type=object_type,
        external_id=external_id,
    )  # fmt: skip


def test_an_entity_is_served_by_its_own_route_else_its_region_and_never_outside_it() -> None:
    erps = directory(routes={"le-uk": EU})
    us = erps.target("le-us", "us")
    assert (us.instance, us.erp) == ("tryton-us", erps.adapters["tryton-us"])
    assert erps.target("le-de", "eu").instance == "tryton-eu"
    assert erps.target("le-uk", "eu").instance == "tryton-eu"  # the entity's own rule
    with pytest.raises(NoRoute):
        erps.target("le-in", "apac")
    with pytest.raises(ResidencyViolation):  # an entity pointed at an instance outside its region
        directory(routes={"le-de": US}).target("le-de", "eu")


async def test_a_linked_company_is_answered_without_asking_the_erp() -> None:
    erps, refs = directory(), FakeCrossReferences()
    await refs.link("legal_entity", "le-us", ref("company", "5"))
    assert await erps.company(refs, erps.target("le-us", "us"), "le-us") == "5"
    assert erp_of(erps, "tryton-us").calls == {}


async def test_a_company_made_under_the_entity_key_is_found_and_linked_once() -> None:
    erps, refs = directory(), FakeCrossReferences()
    target = erps.target("le-us", "us")
    made = await erp_of(erps, "tryton-us").ensure_legal_entity(LE_US, key=LE_US.id)
    assert await erps.company(refs, target, "le-us") == made.external_id
    assert await refs.external_id("legal_entity", "le-us", **ERP_US, object_type="company") == (
        made.external_id
    )
    assert await erps.company(refs, target, "le-us") == made.external_id  # from the link now
    assert erp_of(erps, "tryton-us").calls["find"] == 1


async def test_a_missing_company_is_asked_for_again_only_after_the_miss_ttl() -> None:
    clock = Clock()
    erps, refs = directory(clock=clock), FakeCrossReferences()
    target, erp = erps.target("le-us", "us"), erp_of(erps, "tryton-us")
    assert await erps.company(refs, target, "le-us") is None
    # A burst of postings for the entity within the TTL: the ERP is asked once.
    clock.now += 29.0
    assert await erps.company(refs, target, "le-us") is None
    assert erp.calls["find"] == 1
    # Meanwhile finance sets the company up; after the TTL it is found and linked.
    made = await erp.ensure_legal_entity(LE_US, key=LE_US.id)
    clock.now += 1.5
    assert await erps.company(refs, target, "le-us") == made.external_id
    assert erp.calls["find"] == 2
    assert refs.by_record == {("erp", "tryton-us", "company", made.external_id): (
        "legal_entity", "le-us")}  # fmt: skip


async def test_a_miss_in_one_instance_does_not_hide_the_entity_in_another() -> None:
    erps, refs = directory(), FakeCrossReferences()
    assert await erps.company(refs, erps.target("le-us", "us"), "le-us") is None
    made = await erp_of(erps, "tryton-eu").ensure_legal_entity(LE_US, key=LE_US.id)
    eu = erps.target("le-us", "eu")
    assert await erps.company(refs, eu, "le-us") == made.external_id


async def test_a_company_linked_by_hand_is_audited_and_ends_a_remembered_miss() -> None:
    clock = Clock()
    erps, refs = directory(clock=clock), FakeCrossReferences()
    target = erps.target("le-us", "us")
    assert await erps.company(refs, target, "le-us") is None
    linked = await erps.link_company(
        refs, "tryton-us", "le-us", "77", actor="ops@acme", why="made by hand in Tryton"
    )
    assert linked == ref("company", "77")
    assert refs.audit == [("legal_entity", "le-us", linked, "ops@acme", "made by hand in Tryton")]
    assert await erps.company(refs, target, "le-us") == "77"  # within the TTL, yet answered
    with pytest.raises(XrefConflict):  # the company is another entity's already
        await erps.link_company(refs, "tryton-us", "le-uk", "77", actor="ops@acme", why="typo")
    assert len(refs.audit) == 1


async def test_an_entry_books_on_its_task_when_linked_else_on_its_project() -> None:
    erps, refs = directory(), FakeCrossReferences()
    assert await erps.employee(refs, "tryton-us", "wrk-1") is None
    assert await erps.work(refs, "tryton-us", "prj-1", "wi-1") is None
    await refs.link("worker", "wrk-1", ref("employee", "31"))
    await refs.link("project", "prj-1", ref("project", "40"))
    await refs.link("work_item", "wi-1", ref("task", "41"))
    assert await erps.employee(refs, "tryton-us", "wrk-1") == "31"
    assert await erps.employee(refs, "tryton-eu", "wrk-1") is None  # linked in another instance
    assert await erps.work(refs, "tryton-us", "prj-1", "wi-1") == "41"
    assert await erps.work(refs, "tryton-us", "prj-1", "wi-2") == "40"  # task not linked (yet)
    assert await erps.work(refs, "tryton-us", "prj-1", None) == "40"
