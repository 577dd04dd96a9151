"""time-expense wired by ``bootstrap`` to fakes: the world a unit test drives and looks into.

``world(**settings)`` builds the fake ERP and PSA, the dependencies and the consumer's router
(``bootstrap.dependencies`` / ``bootstrap.consumer_router``), a ``FakeStore`` every unit of work
commits to, an ``InMemoryBroker`` and a clock the test moves. Nothing is set up in the systems:
``firm.opened`` does that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes import FakeStore, FakeUnitOfWork, fake_transactions
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from tandem_connectors.directory import ErpDirectory, ErpTarget, company_key
from tandem_connectors.fakes import FakeCrossReferences, FakeErp, FakeLanding, FakePsa
from tandem_connectors.routing import Instance, InstanceRouter
from tandem_connectors.systems import Systems
from tandem_contracts import Envelope, SystemKind
from tandem_contracts.entities import FxRate
from tandem_messaging import HandlerContext, Router, TransactionScope
from tandem_messaging.testing import InMemoryBroker, Outcome
from time_expense import bootstrap
from time_expense.service_layer.dependencies import Dependencies
from time_expense.service_layer.handlers import QUEUE
from time_expense.service_layer.ingest import PsaIngestion
from time_expense.service_layer.periods import watch_periods
from time_expense.settings import Settings

__all__ = ["ERP_INSTANCE", "NOW", "PSA_INSTANCE", "FakeClock", "World", "world"]

NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
ERP_INSTANCE, PSA_INSTANCE = "erp-fake", "psa-fake"
REGIONS = ("us", "uk", "eu")
_COMPANY_WAIT = company_key("", "").split(":")[0] + ":"


@dataclass
class FakeClock:
    """Now, as the test says (also the ERP directory's monotonic clock)."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        """Seconds, moving with ``now``."""
        return self.now.timestamp()

    def advance(self, by: timedelta) -> None:
        """Move time on."""
        self.now += by


class _Given(Settings):
    """Settings from the test alone: the environment running the tests changes nothing."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass
class World:
    """time-expense on fakes; every system and table a test asserts on.

    What handlers publish is in ``broker.published`` (the consumer's outbox rows); what jobs
    and the reconciler publish through ``uow.publish`` is in ``store.outbox``.
    """

    settings: Settings
    clock: FakeClock
    store: FakeStore
    erp: FakeErp
    psa: FakePsa
    deps: Dependencies
    router: Router
    broker: InMemoryBroker = field(init=False)

    def __post_init__(self) -> None:
        self.broker = InMemoryBroker(self.router, consumer=QUEUE)

    @property
    def refs(self) -> FakeCrossReferences:
        """The cross-references every transaction shares."""
        return self.store.refs

    @property
    def landing(self) -> FakeLanding:
        """The landing table every transaction shares."""
        return self.store.landing

    async def deliver(self, envelope: Envelope[Any]) -> Outcome:
        """Deliver ``envelope`` to the consumer."""
        return await self.broker.deliver(envelope)

    async def batch(self, *envelopes: Envelope[Any]) -> list[Envelope[Any]]:
        """Handle ``envelopes`` as one lane batch of the consumer: one transaction, one scope
        (each envelope new to the inbox); answer the events published."""
        scope: TransactionScope[Any] = TransactionScope(
            uow=self.router.unit_of_work(self.broker.connection)
        )
        published: list[Envelope[Any]] = []

        async def publish(event: Envelope[Any]) -> None:
            published.append(event)

        for envelope in envelopes:
            ctx = HandlerContext(
                envelope=envelope, consumer=QUEUE, service=self.router.service, attempt=1,
                connection=None, _publisher=publish, scope=scope,
            )  # fmt: skip
            await self.router.handlers[envelope.event_type](envelope, ctx)
        await scope.finish()
        return published

    async def release(self, key: str) -> list[Outcome]:
        """Redeliver what waits for ``key`` (met outside a handler: the kit's ``release``)."""
        return [await self.broker.deliver(e) for e in self.broker.waiting.pop(key, [])]

    async def resolve_companies(self) -> list[Outcome]:
        """The kit's ``resolve_companies`` job: each company waited for looked up in its ERP by
        its key, linked once found, and what waited for it released."""
        outcomes = []
        for key in [k for k in self.broker.waiting if k.startswith(_COMPANY_WAIT)]:
            _, instance, legal_entity_id = key.split(":", 2)
            target = ErpTarget(instance, self.deps.erps.adapters[instance])
            async with self.deps.transactions() as uow:
                found = await self.deps.erps.company(uow.refs, target, legal_entity_id)
            if found is not None:
                outcomes += await self.release(key)
        return outcomes

    async def load_fx(self, *rates: FxRate) -> None:
        """Load FX rates as ``POST /v1/fx-rates`` does."""
        async with self.deps.transactions() as uow:
            for rate in rates:
                await uow.reference.save_fx_rate(rate)

    async def watch_periods(self) -> int:
        """Run the ``watch-periods`` job once."""
        return await watch_periods(
            self.deps.transactions, self.deps.erps, self.deps.tenant_id, self.deps.clock
        )

    def ingestion(self) -> PsaIngestion:
        """An ingestion pass over the fake PSA's landed records, in its own unit of work."""
        return PsaIngestion(FakeUnitOfWork(self.store), self.psa, PSA_INSTANCE, "acme")


def world(**settings: Any) -> World:
    """time-expense on fakes, ``settings`` over the test defaults."""
    clock, store = FakeClock(), FakeStore()
    erp = FakeErp(instance=ERP_INSTANCE, today=clock.now.date())
    psa = FakePsa(instance=PSA_INSTANCE)
    route = InstanceRouter(
        SystemKind.ERP.value, by_region={region: Instance(ERP_INSTANCE) for region in REGIONS}
    )
    directory = ErpDirectory(route, {ERP_INSTANCE: erp}, clock=clock.monotonic)
    systems = Systems(erps={ERP_INSTANCE: erp}, psas={PSA_INSTANCE: psa}, erp_directory=directory)
    given = _Given(**{"tenant_id": "acme", **settings})
    deps = bootstrap.dependencies(given, systems, fake_transactions(store), clock)
    router = bootstrap.consumer_router(
        deps, unit_of_work=lambda _: FakeUnitOfWork(store, refs=store.refs, landing=store.landing)
    )
    return World(given, clock, store, erp, psa, deps, router)
