"""Test support for Tandem: real RabbitMQ / PostgreSQL per test (a pytest plugin)."""

from tandem_testing._servers import AmqpServer, PostgresServer, in_ci, with_path
from tandem_testing._tryton import TrytonServer, tryton_server
from tandem_testing.plugin import REAL_SERVICE_FIXTURES

__all__ = [
    "REAL_SERVICE_FIXTURES",
    "AmqpServer",
    "PostgresServer",
    "TrytonServer",
    "in_ci",
    "tryton_server",
    "with_path",
]
