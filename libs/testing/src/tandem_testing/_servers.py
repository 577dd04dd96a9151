"""Where the real RabbitMQ and PostgreSQL come from: environment URLs, else testcontainers."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "AmqpServer",
    "PostgresServer",
    "ServerUnavailable",
    "amqp_server",
    "in_ci",
    "postgres_server",
    "with_path",
]


class ServerUnavailable(Exception):
    """No real server could be found; the message says what was tried."""


def in_ci() -> bool:
    """Return True when running in CI, where a missing real service is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def with_path(url: str, path: str) -> str:
    """Return ``url`` with its path replaced (a vhost for AMQP, a database for PostgreSQL)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(path, safe=""), parts.query, ""))


@dataclass(frozen=True)
class AmqpServer:
    """A RabbitMQ broker: its AMQP URL (default vhost) and management API URL."""

    url: str
    management_url: str


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server: a URL to a database the tests may create databases from."""

    url: str


def _docker_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
        # No engine's socket: asking docker-py would leak the socket its failed connect opened.
        return False
    try:
        docker: Any = importlib.import_module("docker")  # optional: testcontainers brings it
        client = docker.from_env(timeout=3)
    except Exception:
        return False
    try:
        client.ping()
    except Exception:
        return False
    finally:
        client.close()
    return True


@contextlib.contextmanager
def amqp_server() -> Iterator[AmqpServer]:
    """Yield the broker named by ``TEST_AMQP_URL``, else one in a container, else raise."""
    url = os.environ.get("TEST_AMQP_URL")
    if url:
        parts = urlsplit(url)
        default = (
            f"http://{parts.username or 'guest'}:{parts.password or 'guest'}@{parts.hostname}:15672"
        )
        yield AmqpServer(url, os.environ.get("TEST_AMQP_MANAGEMENT_URL", default))
        return
    if not _docker_answers():
        raise ServerUnavailable("TEST_AMQP_URL is not set and no Docker engine answers")
    from testcontainers.rabbitmq import RabbitMqContainer

    container: Any
    with RabbitMqContainer("rabbitmq:3.13-management") as container:
        host = container.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/"
        mgmt = f"http://guest:guest@{host}:{container.get_exposed_port(15672)}"
        yield AmqpServer(amqp, mgmt)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Yield the server named by ``TEST_DATABASE_URL``, else one in a container, else raise."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield PostgresServer(url)
        return
    if not _docker_answers():
        raise ServerUnavailable("TEST_DATABASE_URL is not set and no Docker engine answers")
    from testcontainers.postgres import PostgresContainer

    container: Any
    with PostgresContainer("postgres:15", driver=None) as container:
        yield PostgresServer(container.get_connection_url())
