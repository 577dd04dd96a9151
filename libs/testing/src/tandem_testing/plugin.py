"""Pytest plugin: real RabbitMQ vhosts and PostgreSQL databases, one per test.

Fixtures ``amqp_url`` and ``database_url`` give each test its own vhost / database on the
servers named by ``TEST_AMQP_URL`` / ``TEST_DATABASE_URL`` (else testcontainers when a Docker
engine answers, else the test is skipped with the reason); ``tryton`` gives a test its own
real Tryton ERP server (see ``_tryton``); ``rabbit_cluster`` (session) a private three-node
RabbitMQ cluster, ``private_rabbit`` a single broker node and ``private_postgres`` a PostgreSQL
instance of the test's own, for tests that stop or kill brokers or crash the database (these
fail, never skip, when they cannot start); ``phoenix`` (session) a real trace store the
services under test export to. With ``CI=true`` a real-service test that would skip fails
instead, so a suite can never pass having tested nothing. Tests that use these fixtures are
marked ``real_services``, and the run ends with their count.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from _pytest.terminal import TerminalReporter

from tandem_testing._containers import PodmanApi, running_podman_api
from tandem_testing._phoenix import Phoenix
from tandem_testing._private_pg import PrivatePostgres, running_private_postgres
from tandem_testing._rabbit_cluster import RabbitCluster, running_rabbit_cluster
from tandem_testing._servers import (
    AmqpServer,
    PostgresServer,
    ServerUnavailable,
    amqp_server,
    in_ci,
    postgres_server,
    with_path,
)
from tandem_testing._tryton import TrytonServer, tryton_server

REAL_SERVICE_FIXTURES = frozenset(
    {
        "amqp_url",
        "database_url",
        "amqp_server_info",
        "postgres_info",
        "tryton",
        "rabbit_cluster",
        "private_rabbit",
        "private_postgres",
        "podman_api",
        "phoenix",
    }
)
"""Fixtures whose use marks a test as one that talks to a real service."""

_OUTCOMES = pytest.StashKey[Counter[str]]()


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"real service missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def amqp_server_info() -> Iterator[AmqpServer]:
    """The real RabbitMQ the session uses (environment URL or container)."""
    try:
        with amqp_server() as server:
            yield server
    except ServerUnavailable as exc:
        _unavailable(f"no RabbitMQ: {exc}")


@pytest.fixture(scope="session")
def postgres_info() -> Iterator[PostgresServer]:
    """The real PostgreSQL the session uses (environment URL or container)."""
    try:
        with postgres_server() as server:
            yield server
    except ServerUnavailable as exc:
        _unavailable(f"no PostgreSQL: {exc}")


@pytest_asyncio.fixture
async def amqp_url(amqp_server_info: AmqpServer) -> AsyncIterator[str]:
    """An AMQP URL to a fresh vhost of its own, deleted after the test."""
    vhost = f"tandem-test-{secrets.token_hex(6)}"
    user = httpx.URL(amqp_server_info.management_url).username or "guest"
    async with httpx.AsyncClient(base_url=amqp_server_info.management_url, timeout=10) as api:
        try:
            created = await api.put(f"/api/vhosts/{vhost}")
        except httpx.HTTPError as exc:
            _unavailable(f"RabbitMQ management API unreachable: {exc!r}")
        created.raise_for_status()
        granted = await api.put(
            f"/api/permissions/{vhost}/{user}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )
        granted.raise_for_status()
        try:
            yield with_path(amqp_server_info.url, vhost)
        finally:
            await api.delete(f"/api/vhosts/{vhost}")


@pytest_asyncio.fixture
async def database_url(postgres_info: PostgresServer) -> AsyncIterator[str]:
    """A PostgreSQL URL to a fresh, empty database of its own, dropped after the test."""
    name = f"tandem_test_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(postgres_info.url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable(f"PostgreSQL unreachable: {exc!r}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_path(postgres_info.url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def tryton(request: pytest.FixtureRequest) -> Iterator[TrytonServer]:
    """A real Tryton ERP server on a fresh copy of the template database, for one test."""
    default = request.config.rootpath / ".tandem" / "tryton"
    home = Path(os.environ.get("TANDEM_TRYTON_HOME", default))
    name = f"tandem_{secrets.token_hex(4)}"
    try:
        with tryton_server(home, name) as server:
            yield server
    except ServerUnavailable as exc:
        _unavailable(f"no Tryton: {exc}")


@pytest.fixture(scope="session")
def rabbit_cluster() -> Iterator[RabbitCluster]:
    """A private three-node RabbitMQ cluster for the session; a test restarts what it kills."""
    try:
        with running_rabbit_cluster() as cluster:
            yield cluster
    except ServerUnavailable as exc:
        # A fault test that cannot make its faults has tested nothing: fail, never skip.
        pytest.fail(f"no RabbitMQ cluster: {exc}", pytrace=False)


@pytest.fixture
def private_rabbit() -> Iterator[RabbitCluster]:
    """A single RabbitMQ node of this test's own, which it may stop and start: the machine's
    broker, shared by every other test, is never stopped."""
    try:
        with running_rabbit_cluster(size=1) as node:
            yield node
    except ServerUnavailable as exc:
        pytest.fail(f"no private RabbitMQ node: {exc}", pytrace=False)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL instance of this test's own, which it may stop and start."""
    try:
        with running_private_postgres() as server:
            yield server
    except ServerUnavailable as exc:
        pytest.fail(f"no private PostgreSQL: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def podman_api() -> Iterator[PodmanApi]:
    """podman's Docker-compatible API on a socket of the session's own (testcontainers' engine)."""
    try:
        with running_podman_api() as engine:
            yield engine
    except ServerUnavailable as exc:
        _unavailable(f"no container engine: {exc}")


@pytest.fixture(scope="module")
def phoenix(request: pytest.FixtureRequest) -> Iterator[Phoenix]:
    """A Phoenix trace store for a test module, started but not awaited: it takes about 18 s,
    which a test overlaps with its own set-up before ``await phoenix.ready()``. One per module:
    a whole-suite story leaves Phoenix minutes behind on the spans it sent, which the next
    module's deadline would pay for."""
    default = request.config.rootpath / ".tandem" / "tools" / "phoenix"
    home = Path(os.environ.get("TANDEM_PHOENIX_HOME", default))
    server = Phoenix(home.resolve(), Path(tempfile.mkdtemp(prefix="tandem-phoenix-")))
    try:
        server.start()
    except ServerUnavailable as exc:
        shutil.rmtree(server.working_dir, ignore_errors=True)
        _unavailable(f"no Phoenix: {exc}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.working_dir, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_OUTCOMES] = Counter()
    config.addinivalue_line(
        "markers", "real_services: talks to a real RabbitMQ, PostgreSQL or ERP (set automatically)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_services)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if item.get_closest_marker("real_services") is None:
        return report
    if report.skipped and in_ci():
        report.outcome = "failed"
        report.longrepr = f"real-service test skipped in CI: {report.longrepr}"
    if report.when == "call" or (report.when == "setup" and not report.passed):
        item.config.stash[_OUTCOMES][report.outcome] += 1
    return report


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    outcomes = terminalreporter.config.stash[_OUTCOMES]
    if not outcomes:
        return
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    terminalreporter.write_sep("-", f"tests against real services: {counts}")
