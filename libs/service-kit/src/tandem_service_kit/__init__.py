"""What every Tandem service process needs, so a service holds only its own domain.

    from tandem_service_kit import ServiceSettings, create_app, require_scopes, service_main

``ServiceSettings`` reads ``TANDEM_*``; ``create_app`` gives an API with ``/healthz``,
``/readyz``, ``/metrics``, request and correlation ids, problem details, auth and tracing;
``run_worker`` runs a consumer until SIGTERM; ``apply_migrations`` applies plain SQL once;
``service_main`` is the whole ``python -m <service> api|worker|migrate``.
"""

from tandem_service_kit._app import AppHook, create_app
from tandem_service_kit._auth import Authenticator, Principal, require_scopes
from tandem_service_kit._context import correlation_id, request_id
from tandem_service_kit._deps import (
    BrokerDep,
    PoolDep,
    SettingsDep,
    get_broker,
    get_pool,
    get_settings,
)
from tandem_service_kit._logging import ContextFilter, configure_logging
from tandem_service_kit._main import service_main
from tandem_service_kit._middleware import CORRELATION_ID_HEADER, REQUEST_ID_HEADER
from tandem_service_kit._migrations import Migration, apply_migrations, discover_migrations
from tandem_service_kit._problems import PROBLEM_JSON, problem_response
from tandem_service_kit._resources import open_resources
from tandem_service_kit._settings import LogLevel, ServiceSettings
from tandem_service_kit._telemetry import configure_telemetry, shutdown_telemetry
from tandem_service_kit._tokens import JwkSource, JwtVerifier
from tandem_service_kit._worker import WorkerMain, WorkerResources, run_worker
from tandem_service_kit.errors import (
    AuthenticationError,
    MigrationChecksumError,
    MigrationError,
    ServiceKitError,
    SigningKeysUnavailableError,
)

__all__ = [
    "CORRELATION_ID_HEADER",
    "PROBLEM_JSON",
    "REQUEST_ID_HEADER",
    "AppHook",
    "AuthenticationError",
    "Authenticator",
    "BrokerDep",
    "ContextFilter",
    "JwkSource",
    "JwtVerifier",
    "LogLevel",
    "Migration",
    "MigrationChecksumError",
    "MigrationError",
    "PoolDep",
    "Principal",
    "ServiceKitError",
    "ServiceSettings",
    "SettingsDep",
    "SigningKeysUnavailableError",
    "WorkerMain",
    "WorkerResources",
    "apply_migrations",
    "configure_logging",
    "configure_telemetry",
    "correlation_id",
    "create_app",
    "discover_migrations",
    "get_broker",
    "get_pool",
    "get_settings",
    "open_resources",
    "problem_response",
    "request_id",
    "require_scopes",
    "run_worker",
    "service_main",
    "shutdown_telemetry",
]
