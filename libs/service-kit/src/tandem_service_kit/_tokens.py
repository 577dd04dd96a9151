"""Bearer token verification: JWKS, a PEM public key or an HS256 development secret."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit.errors import AuthenticationError, SigningKeysUnavailableError

__all__ = ["JwkSource", "JwtVerifier"]

_LEEWAY_SECONDS = 10  # tolerate small clock skew between the issuer and this host
_ASYMMETRIC: tuple[str, ...] = ("RS256", "ES256")


class JwkSource(Protocol):
    """Where the signing key of a token comes from (``jwt.PyJWKClient`` or a test fake)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


def _pem_key(pem: str) -> tuple[Any, tuple[str, ...]]:
    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return key, ("RS256",)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key, ("ES256",)
    raise ValueError("TANDEM_JWT_PUBLIC_KEY must be an RSA or EC public key in PEM format")


class JwtVerifier:
    """Verify a JWT's signature, expiry and (when configured) audience and issuer."""

    def __init__(
        self,
        *,
        algorithms: tuple[str, ...],
        key: Any = None,
        jwks: JwkSource | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        self._algorithms = list(algorithms)
        self._key = key
        self._jwks = jwks
        self._audience = audience
        self._issuer = issuer

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> JwtVerifier | None:
        """Return the verifier the settings describe, or None when JWTs are not configured."""
        key: Any = None
        jwks: JwkSource | None = None
        algorithms: tuple[str, ...]
        if settings.jwt_jwks_url:
            jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300)
            algorithms = _ASYMMETRIC
        elif settings.jwt_public_key is not None:
            key, algorithms = _pem_key(settings.jwt_public_key.get_secret_value())
        elif settings.jwt_secret is not None:
            key, algorithms = settings.jwt_secret.get_secret_value().encode(), ("HS256",)
        else:
            return None
        return cls(
            algorithms=algorithms,
            key=key,
            jwks=jwks,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )

    async def _signing_key(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            # PyJWKClient fetches over blocking urllib; keep it off the event loop.
            return await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise SigningKeysUnavailableError(str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc

    async def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise ``AuthenticationError`` saying why not."""
        key = await self._signing_key(token)
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=_LEEWAY_SECONDS,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self._audience is not None,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc
