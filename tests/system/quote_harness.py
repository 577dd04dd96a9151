"""project-sync beside a time-expense deployment, to make the story firm's projects as a firm
makes them: a CRM account and an opportunity won, the contract approved, and project-sync's
saga creating the project in the ERP and the PSA and announcing ``ProjectActivated``.

project-sync runs as real subprocesses (``python -m project_sync api | worker``) on a database
of its own (the deployment's name + ``_q2c``, dropped afterwards) and on the deployment's vhost,
so its events reach time-expense's queue. Its ERP and PSA are time-expense's own, under the
same instance names: the refs in ``ProjectActivated`` name the instance time-expense posts to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from project_sync.bootstrap import DEFINITION
from project_sync.service_layer.handlers import QUEUE
from project_sync.service_layer.ingest import canonical_id
from tandem_contracts.entities import LegalEntity
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, eventually

from .harness import Deployment
from .project_sync_harness import german_vat

__all__ = ["Made", "QuoteToCash", "create_database", "drop_database", "project_sync_beside"]

API_KEY = "system-test-q2c-key"
CRM = "crm"
CRM_SECRET = "crm-webhook-secret-for-system-tests"
# Reads and writes a saga's contract; nothing else is needed to make projects.
_SCOPES = ["q2c:read", "q2c:write"]
_FIRST_VAT_SERIAL = 81190798


@dataclass(frozen=True)
class Made:
    """A project project-sync made: its canonical id and its ids in the ERP and the PSA."""

    canonical: str
    erp: str
    psa: str


@dataclass
class QuoteToCash:
    """Clients of the sandbox CRM and of project-sync's API, to win opportunities with."""

    crm: httpx.AsyncClient
    api: httpx.AsyncClient
    entities: Mapping[str, LegalEntity]

    async def won(self, projects: Mapping[str, str], within: float = 120.0) -> dict[str, Made]:
        """Win an opportunity per project (name -> legal entity), approve its contract and
        wait until project-sync has made it active; answer each project as made."""
        names = list(projects)
        opportunities = [
            await self._opportunity(name, projects[name], n) for n, name in enumerate(names)
        ]
        made = await asyncio.gather(*(
            self._activated(name, projects[name], opportunity, within)
            for name, opportunity in zip(names, opportunities, strict=True)
        ))  # fmt: skip
        return dict(zip(names, made, strict=True))

    async def _opportunity(self, name: str, entity_id: str, n: int) -> str:
        """A customer account and its opportunity in the CRM, won; its canonical id."""
        entity = self.entities[entity_id]
        # An EU customer without a valid VAT id is an exception, not a project.
        vat = german_vat(_FIRST_VAT_SERIAL + 1000 * n) if entity.country == "DE" else None
        account = await _ok(await self.crm.post("/v1/accounts", json={
            "name": f"Customer of {name}", "country": entity.country,
            "currency": entity.functional_currency, "tax_id": vat,
        }))  # fmt: skip
        opportunity = await _ok(await self.crm.post("/v1/opportunities", json={
            "account_id": account["id"], "name": f"Project {name}", "stage": "Negotiation",
            "amount": "100000.00", "currency": entity.functional_currency,
            "close_date": "2026-09-30", "selling_entity": entity_id,
        }))  # fmt: skip
        won = {"stage": "Closed Won"}
        await _ok(await self.crm.patch(f"/v1/opportunities/{opportunity['id']}", json=won))
        return canonical_id(CRM, str(opportunity["id"]))

    async def _activated(self, name: str, entity_id: str, opportunity: str, within: float) -> Made:
        """Approve the opportunity's contract (finance's act) once project-sync has polled the
        opportunity, and wait for its project to be active in both systems."""
        currency = self.entities[entity_id].functional_currency
        contract = {
            "billing_model": "time_and_materials",
            "total_value": {"amount": "100000.00", "currency": currency},
            "start_date": "2026-09-01", "why": f"the statement of work of {name}, signed",
        }  # fmt: skip
        path = f"/v1/opportunities/{opportunity}/contract"

        async def approved() -> bool:
            answer = await self.api.put(path, json=contract)
            assert answer.status_code in {202, 404}, answer.text
            return answer.status_code == 202

        await eventually(approved, within=within, what=f"project-sync to know {name}", every=0.2)
        seen: dict[str, Any] = {}

        async def active() -> bool:
            seen.update(await self._saga(opportunity) or {})
            return seen.get("state") == "active"

        try:
            await eventually(active, within=within, what=f"{name} active", every=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {seen}") from None
        return Made(str(seen["project_id"]), str(seen["erp"]["ref"]), str(seen["psa"]["ref"]))

    async def _saga(self, opportunity: str) -> dict[str, Any] | None:
        """The opportunity's latest quote-to-cash, or None while project-sync has none."""
        answer = await self.api.get("/v1/quote-to-cash", params={"opportunity": opportunity})
        if answer.status_code == 404:
            return None
        items: list[dict[str, Any]] = (await _ok(answer))["items"]
        return max(items, key=lambda item: int(item["generation"]))


@contextlib.asynccontextmanager
async def project_sync_beside(
    deployment: Deployment, crm_url: str, entities: Mapping[str, LegalEntity]
) -> AsyncIterator[QuoteToCash]:
    """project-sync running beside ``deployment``, against the CRM at ``crm_url``; stopped,
    and its database dropped, on leaving."""
    database_url = await create_database(deployment.database_url, "_q2c")
    try:
        await apply_migrations(database_url, DEFINITION.migrations)
        service = _service(deployment, database_url, crm_url, entities)
        try:
            service.start("api")
            service.start("worker")  # every role: the consumer, ingestion, relay, schedule
            await service.wait_api()
            await service.wait_worker("worker")
            await service.wait_consuming(QUEUE)
            async with (
                httpx.AsyncClient(base_url=crm_url, timeout=30) as crm,
                httpx.AsyncClient(base_url=service.api_url, headers={"X-API-Key": API_KEY},
                                  timeout=30) as api,
            ):  # fmt: skip
                yield QuoteToCash(crm, api, entities)
        finally:
            service.stop()
    finally:
        await drop_database(deployment.database_url, database_url)


def _service(
    deployment: Deployment, database_url: str, crm_url: str, entities: Mapping[str, LegalEntity]
) -> LocalService:
    """project-sync's processes on the deployment's systems and vhost, polling fast."""
    crm = {"url": crm_url, "webhook_secret": CRM_SECRET, "requests_per_second": 400,
           "burst": 200}  # fmt: skip
    return LocalService(
        module="project_sync",
        name="project-sync",
        database_url=database_url,
        amqp_url=deployment.amqp_url,
        logs=deployment.logs,
        settings={
            "TANDEM_LOG_LEVEL": deployment.settings.get("TANDEM_LOG_LEVEL", "WARNING"),
            "TANDEM_API_KEYS": json.dumps({API_KEY: _SCOPES}),
            "TANDEM_ERP_INSTANCES": json.dumps(deployment.erp_instances),
            "TANDEM_PSA_INSTANCES": json.dumps(deployment.psa_instances),
            "TANDEM_CRM_INSTANCES": json.dumps({CRM: crm}),
            "TANDEM_ERP_BY_REGION": deployment.settings["TANDEM_ERP_BY_REGION"],
            "TANDEM_ENTITY_BY_COUNTRY": json.dumps({e.country: e.id for e in entities.values()}),
            "TANDEM_DEFAULT_LEGAL_ENTITY": next(iter(entities)),
            "TANDEM_ENTITY_REGIONS": json.dumps(
                {e.id: e.data_residency_region for e in entities.values()}
            ),
            "TANDEM_ENTITY_CURRENCIES": json.dumps(
                {e.id: [e.functional_currency] for e in entities.values()}
            ),
            "TANDEM_INGEST_INTERVAL_S": "0.05",
            "TANDEM_POLL_INTERVAL_S": "0.3",
            "TANDEM_POLL_LAG_S": "0",
            "TANDEM_RESUME_INTERVAL_S": "0.5",
            "TANDEM_PROBE_MAX_S": "0.5",
            "TANDEM_RATE_LIMIT": "100000/minute",
            # Handled concurrently, as deployed: two customers of one legal entity may both
            # link its ERP company at once (the cross-references take the second as made);
            # Tryton's project numbers drawn twice are drawn again by the adapter.
        },
    )


async def create_database(database_url: str, suffix: str) -> str:
    """A fresh database named after ``database_url``'s, with ``suffix``; its URL."""
    base, name = database_url.rsplit("/", 1)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}{suffix}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}{suffix}"')
    finally:
        await connection.close()
    return f"{base}/{name}{suffix}"


async def drop_database(admin_url: str, database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _ok(answer: httpx.Response) -> Any:
    assert answer.is_success, f"{answer.request.url} {answer.status_code} {answer.text}"
    return answer.json()
