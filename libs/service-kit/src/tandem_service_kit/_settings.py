"""The settings every Tandem service process reads from ``TANDEM_*`` environment variables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

import limits
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LogLevel", "ServiceSettings", "WorkerRole", "redact_url"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
WorkerRole = Literal["consume", "ingest", "relay", "schedule"]
"""What a worker process runs: ``consume`` its queue, ``ingest`` its systems of record (poll
their feeds, turn landed records into events; one replica per source at a time), ``relay`` the
outbox (any number of replicas), ``schedule`` its periodic jobs (one replica at a time)."""

_KEBAB = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
_MIN_HS256_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key is at least as long as the hash
_MIB = 1_048_576
_INBOUND_BODY_BYTES = 262_144


def redact_url(url: str) -> str:
    """Return ``url`` (or each URL of a comma-separated list) with any password as ``***``."""
    if "," in url:
        return ",".join(redact_url(part) for part in url.split(","))
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _one_rate_limit(value: str) -> str:
    hint = f"{value!r} is not one rate limit such as '600/minute' or '20 per 10 seconds'"
    try:
        items = limits.parse_many(value)
    except ValueError as exc:
        raise ValueError(hint) from exc
    # parse() would silently keep only the first of several limits: refuse them instead.
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError(hint)
    return value


class ServiceSettings(BaseSettings):
    """Settings shared by every service; a service subclasses this and adds its own."""

    model_config = SettingsConfigDict(
        env_prefix="TANDEM_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    service_name: str = Field(pattern=_KEBAB, max_length=63)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    """The broker: one AMQP URL, or a comma-separated list of URLs, one per node of a cluster
    (``amqp://u:p@rabbit-0:5672/vh,amqp://u:p@rabbit-1:5672/vh``). A process connects to the
    first node that answers, in an order of its own, and moves to another node when that
    connection is lost. Commas inside a URL must be percent-encoded."""
    database_url: str = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    db_pool_size: int = Field(default=10, ge=2, le=200)
    """The most database connections one process holds (its pool's size): processes times
    this must stay under the server's ``max_connections``."""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    # The worker's probes and metrics listen on http_host too; None ("off") serves none, 0 takes
    # any free port.
    worker_http_port: int | None = Field(default=9000, ge=0, le=65535)
    tenant_id: str = Field(default="acme", min_length=1, max_length=64)
    prefetch: int = Field(default=64, ge=1, le=10_000)
    concurrency: int = Field(default=16, ge=1, le=10_000)
    batch_size: int = Field(default=32, ge=1, le=500)
    """Deliveries a consumer lane commits in one transaction."""
    probe_max_s: float = Field(default=30.0, gt=0, le=600)
    """The longest wait between probes of an unavailable downstream."""
    partitions: int = Field(default=8, ge=1, le=256)
    """Partitions of the service's consumer group: its replicas share them by lease, each key
    on one partition, so one key is handled by one replica at a time (ADR 0008). Every replica
    must agree; the count may grow, never shrink."""
    partition_heartbeat_s: float = Field(default=1.0, gt=0, le=60)
    """How often a consumer renews its leases and rebalances."""
    partition_lease_ttl_s: float = Field(default=5.0, gt=0, le=600)
    """How long a lease outlives its last renewal: the pause after a replica dies."""
    inbox_retention_days: float = Field(default=14.0, gt=0, le=3650)
    """How long the inbox remembers a handled event (the built-in job ``inbox-retention``
    purges older rows every hour). A duplicate arriving later is no longer recognised as one:
    it is dropped only as stale (its subject's version already applied), and handled again by a
    router with ``accept_stale``. Keep it longer than any duplicate can come late (broker
    redelivery, a replay of a parked message, a producer's retried publish)."""
    worker_roles: frozenset[WorkerRole] = frozenset({"consume", "ingest", "relay", "schedule"})
    ingest_interval_s: float = Field(default=0.2, gt=0, le=60)
    """How often landed records are turned into events."""
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    poll_lag_s: float = Field(default=2.0, ge=0, le=3600)
    """Changes younger than this are left for the next poll (late commits in the source)."""
    log_level: LogLevel = "INFO"
    log_format: Literal["json", "console"] = "json"
    jwt_jwks_url: str | None = None
    jwt_public_key: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    api_keys: dict[SecretStr, frozenset[str]] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=_MIB, ge=1)
    body_limits: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {"/v1/inbound/": _INBOUND_BODY_BYTES}
    )
    """Body limits per path prefix (longest wins), over ``max_body_bytes``: a webhook carries
    one record of a system of record, never a megabyte."""
    rate_limit: str = "600/minute"
    rate_limits: dict[str, str] = Field(default_factory=lambda: {"/v1/inbound/": "12000/minute"})
    """Rate limits per path prefix (longest wins), over ``rate_limit``: a system of record's
    signed webhooks come in bursts from few addresses."""
    trust_forwarded_for: bool = False
    dev_mode: bool = False
    """Development only: lets a service start with no authentication configured or with an
    empty webhook secret (which then refuses every webhook). Off, such settings stop it."""

    @field_validator("amqp_url")
    @classmethod
    def _check_amqp_urls(cls, value: str) -> str:
        # Only a value with no URL at all is refused here: an error would echo the input, and
        # a URL carries a password. A malformed URL shows at connect, logged redacted.
        urls = [url.strip() for url in value.split(",") if url.strip()]
        if not urls:
            raise ValueError("needs at least one AMQP URL")
        return ",".join(urls)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("worker_http_port", mode="before")
    @classmethod
    def _off_means_none(cls, value: Any) -> Any:
        # An empty variable counts as unset (the default), so the environment says "off".
        if isinstance(value, str) and value.strip().lower() in {"off", "none"}:
            return None
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _check_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < _MIN_HS256_SECRET_BYTES:
            raise ValueError(f"must be at least {_MIN_HS256_SECRET_BYTES} bytes long")
        return value

    @field_validator("body_limits")
    @classmethod
    def _check_path_prefixes(cls, value: dict[str, int]) -> dict[str, int]:
        if bad := sorted(prefix for prefix in value if not prefix.startswith("/")):
            raise ValueError(f"path prefixes must start with '/': {', '.join(bad)}")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        return _one_rate_limit(value)

    @field_validator("rate_limits")
    @classmethod
    def _check_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        if bad := sorted(prefix for prefix in value if not prefix.startswith("/")):
            raise ValueError(f"path prefixes must start with '/': {', '.join(bad)}")
        return {prefix: _one_rate_limit(limit) for prefix, limit in value.items()}

    @model_validator(mode="after")
    def _check_lease_timing(self) -> Self:
        if self.partition_heartbeat_s >= self.partition_lease_ttl_s:
            raise ValueError(
                "TANDEM_PARTITION_HEARTBEAT_S must be below TANDEM_PARTITION_LEASE_TTL_S"
            )
        return self

    @model_validator(mode="after")
    def _check_one_key_source(self) -> Self:
        # One verification key source only: mixing them invites algorithm-confusion mistakes.
        sources = [self.jwt_jwks_url, self.jwt_public_key, self.jwt_secret]
        if sum(source is not None for source in sources) > 1:
            raise ValueError(
                "configure at most one of TANDEM_JWT_JWKS_URL, TANDEM_JWT_PUBLIC_KEY, "
                "TANDEM_JWT_SECRET"
            )
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name is not None and name.endswith("_url") and isinstance(value, str):
                value = redact_url(value)
            yield name, value
