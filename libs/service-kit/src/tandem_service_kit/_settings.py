"""The settings every Tandem service process reads from ``TANDEM_*`` environment variables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LogLevel", "ServiceSettings", "redact_url"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_KEBAB = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
_MIN_HS256_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key is at least as long as the hash


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class ServiceSettings(BaseSettings):
    """Settings shared by every service; a service subclasses this and adds its own."""

    model_config = SettingsConfigDict(
        env_prefix="TANDEM_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    service_name: str = Field(pattern=_KEBAB, max_length=63)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    database_url: str = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    prefetch: int = Field(default=64, ge=1, le=10_000)
    concurrency: int = Field(default=16, ge=1, le=10_000)
    log_level: LogLevel = "INFO"
    log_format: Literal["json", "console"] = "json"
    jwt_jwks_url: str | None = None
    jwt_public_key: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    api_keys: dict[SecretStr, frozenset[str]] = Field(default_factory=dict)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("jwt_secret")
    @classmethod
    def _check_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < _MIN_HS256_SECRET_BYTES:
            raise ValueError(f"must be at least {_MIN_HS256_SECRET_BYTES} bytes long")
        return value

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
