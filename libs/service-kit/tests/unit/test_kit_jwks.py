"""Tokens verified against a JWKS: the key is looked up by ``kid``; an unreachable IdP is 503."""

import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends
from prometheus_client import CollectorRegistry

from tandem_service_kit import (
    AuthenticationError,
    Authenticator,
    JwtVerifier,
    ServiceSettings,
    SigningKeysUnavailableError,
    create_app,
    require_scopes,
)

router = APIRouter()


@router.get("/ops", dependencies=[Depends(require_scopes("ops:replay"))])
async def ops() -> dict[str, str]:
    """Answer operators."""
    return {"status": "ok"}


class FakeJwks:
    """Stands in for ``jwt.PyJWKClient``: serves the keys it was given, or fails to connect."""

    def __init__(self, keys: dict[str, rsa.RSAPrivateKey], reachable: bool = True) -> None:
        self.keys = keys
        self.reachable = reachable
        self.lookups = 0

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        self.lookups += 1
        if not self.reachable:
            raise jwt.PyJWKClientConnectionError("Fail to fetch data from the url")
        kid = jwt.get_unverified_header(token)["kid"]
        if kid not in self.keys:
            raise jwt.PyJWKClientError(f"Unable to find a signing key that matches: {kid}")
        return jwt.PyJWK.from_json(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    body = {"sub": "svc-ops", "exp": int(time.time()) + 60, "scp": "ops:replay"} | claims
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def verifier(jwks: FakeJwks) -> JwtVerifier:
    return JwtVerifier(algorithms=("RS256", "ES256"), jwks=jwks, audience="tandem")


async def test_a_token_whose_kid_is_in_the_jwks_is_accepted(key: rsa.RSAPrivateKey) -> None:
    authenticator = Authenticator(verifier(FakeJwks({"k1": key})), {})

    principal = await authenticator.authenticate(token(key, "k1", aud="tandem"), None)

    assert principal.subject == "svc-ops"
    assert principal.scopes == frozenset({"ops:replay"})  # scp as a space-separated string


async def test_an_unknown_kid_is_an_authentication_error(key: rsa.RSAPrivateKey) -> None:
    authenticator = Authenticator(verifier(FakeJwks({"k1": key})), {})

    with pytest.raises(AuthenticationError, match="signing key"):
        await authenticator.authenticate(token(key, "k9", aud="tandem"), None)


async def test_an_unreachable_jwks_is_reported_apart(key: rsa.RSAPrivateKey) -> None:
    authenticator = Authenticator(verifier(FakeJwks({"k1": key}, reachable=False)), {})

    with pytest.raises(SigningKeysUnavailableError):
        await authenticator.authenticate(token(key, "k1", aud="tandem"), None)


async def test_a_bearer_token_without_a_configured_verifier_is_refused() -> None:
    authenticator = Authenticator(None, {})

    with pytest.raises(AuthenticationError, match="not accepted"):
        await authenticator.authenticate("a.b.c", None)


async def test_an_unreachable_jwks_answers_503_not_401(key: rsa.RSAPrivateKey) -> None:
    app = create_app(
        ServiceSettings(service_name="kit-test"),
        title="kit-test",
        version="0",
        routers=[router],
        registry=CollectorRegistry(),
    )
    app.state.authenticator = Authenticator(verifier(FakeJwks({}, reachable=False)), {})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        response = await client.get(
            "/ops", headers={"Authorization": f"Bearer {token(key, 'k1', aud='tandem')}"}
        )

    assert response.status_code == 503
    assert response.json()["detail"] == "token signing keys are unavailable"
