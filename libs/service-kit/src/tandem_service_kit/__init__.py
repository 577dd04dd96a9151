"""What every Tandem service process needs, so a service holds only its own domain.

    from tandem_service_kit import ServiceDefinition, Wiring, run_service

A service is a ``ServiceDefinition``: its settings (a ``ServiceSettings`` subclass, read from
``TANDEM_*``), its process API routers, its migrations, the systems it takes records in from,
and ``wire``, its composition root, which builds a ``Wiring`` (consumer, inbound sources, jobs,
outbox, the dependencies of its routes) from the opened ``Resources``. ``run_service`` is the
whole ``python -m <service> api|worker|migrate``: the api gets ``/healthz``, ``/readyz``,
``/metrics``, ids, problem details, auth, limits, tracing, the parking lot (``/v1/parked``) and
signed webhooks (``/v1/inbound/{system}/{instance}``); the worker runs the roles
``TANDEM_WORKER_ROLES`` names — consume, ingest, relay, schedule (``Scheduler``: ``Job``s on one
replica at a time) — and serves its own probes and metrics (``WorkerHttp``).
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
from tandem_service_kit._in_process import serve_in_process
from tandem_service_kit._inbound_api import Landed, inbound_router
from tandem_service_kit._jobs import Job, JobMetrics, Scheduler
from tandem_service_kit._logging import ContextFilter, configure_logging
from tandem_service_kit._main import service_main
from tandem_service_kit._middleware import CORRELATION_ID_HEADER, REQUEST_ID_HEADER
from tandem_service_kit._migrations import Migration, apply_migrations, discover_migrations
from tandem_service_kit._parking_api import parking_router
from tandem_service_kit._problems import PROBLEM_JSON, problem_response
from tandem_service_kit._resources import open_resources
from tandem_service_kit._runner import every, scheduled_jobs, service_worker
from tandem_service_kit._service import (
    Consume,
    InboundSource,
    Resources,
    ServiceDefinition,
    Wiring,
    consumer_settings,
)
from tandem_service_kit._service_main import run_service, service_app, wired
from tandem_service_kit._settings import LogLevel, ServiceSettings, WorkerRole
from tandem_service_kit._telemetry import configure_telemetry, shutdown_telemetry
from tandem_service_kit._tokens import JwkSource, JwtVerifier
from tandem_service_kit._worker import WorkerMain, WorkerResources, run_worker
from tandem_service_kit._worker_http import WorkerHttp
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
    "Consume",
    "ContextFilter",
    "InboundSource",
    "Job",
    "JobMetrics",
    "JwkSource",
    "JwtVerifier",
    "Landed",
    "LogLevel",
    "Migration",
    "MigrationChecksumError",
    "MigrationError",
    "PoolDep",
    "Principal",
    "Resources",
    "Scheduler",
    "ServiceDefinition",
    "ServiceKitError",
    "ServiceSettings",
    "SettingsDep",
    "SigningKeysUnavailableError",
    "Wiring",
    "WorkerHttp",
    "WorkerMain",
    "WorkerResources",
    "WorkerRole",
    "apply_migrations",
    "configure_logging",
    "configure_telemetry",
    "consumer_settings",
    "correlation_id",
    "create_app",
    "discover_migrations",
    "every",
    "get_broker",
    "get_pool",
    "get_settings",
    "inbound_router",
    "open_resources",
    "parking_router",
    "problem_response",
    "request_id",
    "require_scopes",
    "run_service",
    "run_worker",
    "scheduled_jobs",
    "serve_in_process",
    "service_app",
    "service_main",
    "service_worker",
    "shutdown_telemetry",
    "wired",
]
