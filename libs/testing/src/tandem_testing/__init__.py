"""Test support for Tandem: real RabbitMQ / PostgreSQL per test (a pytest plugin), waiting with
a deadline (``eventually``), a service's processes on this machine (``LocalService``), its
image run as containers under podman (``running_podman_api``, ``hardened``), a real trace
store (``Phoenix``), and parts to break: a private RabbitMQ cluster and a private PostgreSQL."""

from tandem_testing._containers import (
    PodmanApi,
    container_logs,
    exit_code,
    hardened,
    image_config,
    run_script,
    running_podman_api,
    until_or_logs,
)
from tandem_testing._local import LocalService
from tandem_testing._phoenix import Phoenix, PhoenixSpan, running_phoenix
from tandem_testing._private_pg import PrivatePostgres, running_private_postgres
from tandem_testing._rabbit_cluster import RabbitCluster, RabbitNode, running_rabbit_cluster
from tandem_testing._servers import AmqpServer, PostgresServer, in_ci, with_path
from tandem_testing._siblings import sibling_module
from tandem_testing._tryton import TrytonServer, tryton_server
from tandem_testing._waiting import eventually, free_port
from tandem_testing.plugin import REAL_SERVICE_FIXTURES

__all__ = [
    "REAL_SERVICE_FIXTURES",
    "AmqpServer",
    "LocalService",
    "Phoenix",
    "PhoenixSpan",
    "PodmanApi",
    "PostgresServer",
    "PrivatePostgres",
    "RabbitCluster",
    "RabbitNode",
    "TrytonServer",
    "container_logs",
    "eventually",
    "exit_code",
    "free_port",
    "hardened",
    "image_config",
    "in_ci",
    "run_script",
    "running_phoenix",
    "running_podman_api",
    "running_private_postgres",
    "running_rabbit_cluster",
    "sibling_module",
    "tryton_server",
    "until_or_logs",
    "with_path",
]
