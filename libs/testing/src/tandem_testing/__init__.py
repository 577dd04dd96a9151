"""Test support for Tandem: real RabbitMQ / PostgreSQL per test (a pytest plugin), waiting with
a deadline (``eventually``), and a service's processes on this machine (``LocalService``)."""

from tandem_testing._local import LocalService
from tandem_testing._servers import AmqpServer, PostgresServer, in_ci, with_path
from tandem_testing._tryton import TrytonServer, tryton_server
from tandem_testing._waiting import eventually, free_port
from tandem_testing.plugin import REAL_SERVICE_FIXTURES

__all__ = [
    "REAL_SERVICE_FIXTURES",
    "AmqpServer",
    "LocalService",
    "PostgresServer",
    "TrytonServer",
    "eventually",
    "free_port",
    "in_ci",
    "tryton_server",
    "with_path",
]
