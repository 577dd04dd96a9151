"""Authentication: bearer JWTs (PEM, HS256, JWKS) and API keys, scopes, 401 versus 403."""

import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import APIRouter, Depends
from prometheus_client import CollectorRegistry

from tandem_service_kit import Principal, ServiceSettings, create_app, require_scopes

SECRET = "dev-secret-for-tests-only-0123456789abcdef"
API_KEY = "tk_live_test_5f1e2d3c"

router = APIRouter(prefix="/v1")


@router.get("/entries")
async def list_entries(
    principal: Annotated[Principal, Depends(require_scopes("time:read"))],
) -> dict[str, Any]:
    """List time entries."""
    return {"subject": principal.subject, "via": principal.via, "scopes": sorted(principal.scopes)}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "svc-billing", "exp": now + 300, "iat": now, "scope": "time:read"} | overrides


async def client_for(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings, title="kit-test", version="0", routers=[router], registry=CollectorRegistry()
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        yield client


@pytest.fixture
async def rsa_client(rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        service_name="kit-test",
        jwt_public_key=public_pem(rsa_key),  # type: ignore[arg-type]
        jwt_audience="tandem-api",
        jwt_issuer="https://idp.example",
        api_keys={API_KEY: ["time:read"], "tk_other_key_8a7b6c": ["time:write"]},  # type: ignore[dict-item]
    )
    async for client in client_for(settings):
        yield client


@pytest.fixture
def rsa_token(rsa_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    def make(**overrides: Any) -> str:
        body = claims(aud="tandem-api", iss="https://idp.example") | overrides
        present = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(present, rsa_key, algorithm="RS256")

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_rs256_token_is_accepted(
    rsa_client: httpx.AsyncClient, rsa_token: Callable[..., str]
) -> None:
    response = await rsa_client.get("/v1/entries", headers=bearer(rsa_token()))

    assert response.status_code == 200
    assert response.json() == {"subject": "svc-billing", "via": "jwt", "scopes": ["time:read"]}


async def test_an_expired_token_is_401_with_a_bearer_challenge(
    rsa_client: httpx.AsyncClient, rsa_token: Callable[..., str]
) -> None:
    expired = rsa_token(exp=int(time.time()) - 120)

    response = await rsa_client.get("/v1/entries", headers=bearer(expired))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize(
    "overrides",
    [{"aud": "another-api"}, {"iss": "https://evil.example"}, {"exp": None}, {"sub": None}],
    ids=["wrong-audience", "wrong-issuer", "no-expiry", "no-subject"],
)
async def test_a_token_failing_a_claim_check_is_401(
    rsa_client: httpx.AsyncClient, rsa_token: Callable[..., str], overrides: dict[str, Any]
) -> None:
    token = rsa_token(**overrides)  # a None override leaves the claim out

    response = await rsa_client.get("/v1/entries", headers=bearer(token))

    assert response.status_code == 401


async def test_a_token_signed_by_another_key_is_401(rsa_client: httpx.AsyncClient) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(aud="tandem-api", iss="https://idp.example"), stranger, "RS256")

    response = await rsa_client.get("/v1/entries", headers=bearer(token))

    assert response.status_code == 401


async def test_a_missing_scope_is_403(
    rsa_client: httpx.AsyncClient, rsa_token: Callable[..., str]
) -> None:
    response = await rsa_client.get("/v1/entries", headers=bearer(rsa_token(scope="time:write")))

    assert response.status_code == 403
    assert response.json()["detail"] == "missing scope: time:read"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_no_credentials_is_401_with_a_plain_challenge(rsa_client: httpx.AsyncClient) -> None:
    response = await rsa_client.get("/v1/entries")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_scp_list_claim_grants_scopes(
    rsa_client: httpx.AsyncClient, rsa_token: Callable[..., str]
) -> None:
    token = rsa_token(scope=None, scp=["time:read", "time:write"])

    response = await rsa_client.get("/v1/entries", headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["scopes"] == ["time:read", "time:write"]


async def test_an_api_key_grants_its_scopes(rsa_client: httpx.AsyncClient) -> None:
    response = await rsa_client.get("/v1/entries", headers={"X-API-Key": API_KEY})

    assert response.status_code == 200
    body = response.json()
    assert body["via"] == "api_key"
    assert body["subject"].startswith("api-key:")
    assert API_KEY not in body["subject"]


async def test_an_api_key_without_the_scope_is_403(rsa_client: httpx.AsyncClient) -> None:
    response = await rsa_client.get("/v1/entries", headers={"X-API-Key": "tk_other_key_8a7b6c"})

    assert response.status_code == 403


async def test_an_unknown_api_key_is_401(rsa_client: httpx.AsyncClient) -> None:
    response = await rsa_client.get("/v1/entries", headers={"X-API-Key": "tk_guessed"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_an_hs256_dev_secret_verifies_tokens() -> None:
    settings = ServiceSettings(service_name="kit-test", jwt_secret=SECRET)  # type: ignore[arg-type]
    good = jwt.encode(claims(), SECRET, algorithm="HS256")
    forged = jwt.encode(claims(), "another-secret-of-the-same-length-0123456789", "HS256")

    async for client in client_for(settings):
        assert (await client.get("/v1/entries", headers=bearer(good))).status_code == 200
        assert (await client.get("/v1/entries", headers=bearer(forged))).status_code == 401


async def test_an_es256_public_key_verifies_tokens() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    settings = ServiceSettings(service_name="kit-test", jwt_public_key=public_pem(key))  # type: ignore[arg-type]

    async for client in client_for(settings):
        token = jwt.encode(claims(), key, algorithm="ES256")
        assert (await client.get("/v1/entries", headers=bearer(token))).status_code == 200


async def test_an_unsigned_token_is_refused(rsa_client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(aud="tandem-api", iss="https://idp.example"), None, algorithm="none")  # type: ignore[arg-type]

    response = await rsa_client.get("/v1/entries", headers=bearer(token))

    assert response.status_code == 401


async def test_operational_endpoints_need_no_credentials(rsa_client: httpx.AsyncClient) -> None:
    assert (await rsa_client.get("/healthz")).status_code == 200
    assert (await rsa_client.get("/metrics")).status_code == 200
