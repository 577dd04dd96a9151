"""Who is calling: a bearer JWT or an API key, turned into a ``Principal`` with scopes."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit._tokens import JwtVerifier
from tandem_service_kit.errors import AuthenticationError, SigningKeysUnavailableError

__all__ = ["Authenticator", "Principal", "require_scopes"]

logger = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="A JWT from the identity provider")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A service API key")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who it is, what it may do and how it proved it."""

    subject: str
    scopes: frozenset[str]
    via: Literal["jwt", "api_key"]


def _claimed_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(item for item in value if isinstance(item, str))
    return frozenset(scopes)


class Authenticator:
    """Turn presented credentials into a ``Principal`` or raise ``AuthenticationError``."""

    def __init__(
        self, jwt: JwtVerifier | None, api_keys: Mapping[SecretStr, frozenset[str]]
    ) -> None:
        self._jwt = jwt
        self._api_keys = dict(api_keys)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Authenticator:
        """Build the authenticator the settings describe."""
        return cls(JwtVerifier.from_settings(settings), settings.api_keys)

    async def authenticate(self, token: str | None, api_key: str | None) -> Principal:
        """Return the caller a bearer token (preferred) or an API key proves."""
        if token is not None:
            if self._jwt is None:
                raise AuthenticationError("bearer tokens are not accepted here")
            claims = await self._jwt.verify(token)
            return Principal(str(claims["sub"]), _claimed_scopes(claims), "jwt")
        if api_key is not None:
            return self._api_key_principal(api_key)
        raise AuthenticationError("no credentials")

    def _api_key_principal(self, presented: str) -> Principal:
        given = presented.encode()
        matched: tuple[str, frozenset[str]] | None = None
        # Compare against every key, without stopping early, so timing reveals nothing.
        for key, scopes in self._api_keys.items():
            secret = key.get_secret_value()
            if hmac.compare_digest(given, secret.encode()):
                matched = (secret, scopes)
        if matched is None:
            raise AuthenticationError("unknown API key")
        fingerprint = hashlib.sha256(matched[0].encode()).hexdigest()[:12]
        return Principal(f"api-key:{fingerprint}", matched[1], "api_key")


def _unauthorized(exc: AuthenticationError, presented: bool) -> HTTPException:
    if isinstance(exc, SigningKeysUnavailableError):
        logger.error("cannot fetch JWT signing keys: %s", exc)
        return HTTPException(503, detail="token signing keys are unavailable")
    logger.info("authentication failed: %s", exc)
    challenge = 'Bearer error="invalid_token"' if presented else "Bearer"
    return HTTPException(401, detail=str(exc), headers={"WWW-Authenticate": challenge})


def _forbidden(missing: list[str], required: frozenset[str]) -> HTTPException:
    challenge = f'Bearer error="insufficient_scope", scope="{" ".join(sorted(required))}"'
    detail = f"missing scope: {' '.join(missing)}"
    return HTTPException(403, detail=detail, headers={"WWW-Authenticate": challenge})


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """Return a dependency that authenticates the caller and requires every given scope."""
    required = frozenset(scopes)

    async def principal(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        api_key: Annotated[str | None, Security(_api_key)],
    ) -> Principal:
        authenticator = cast(Authenticator, request.app.state.authenticator)
        if bearer is None and "authorization" in request.headers:
            # A credential this API cannot check is refused, not ignored in favour of another:
            # a caller must never be let in beside a credential that proves nothing.
            raise _unauthorized(
                AuthenticationError("only Bearer tokens are accepted in Authorization"), True
            )
        token = bearer.credentials if bearer is not None else None
        try:
            found = await authenticator.authenticate(token, api_key)
        except AuthenticationError as exc:
            raise _unauthorized(exc, token is not None or api_key is not None) from exc
        missing = sorted(required - found.scopes)
        if missing:
            raise _forbidden(missing, required)
        return found

    return principal
