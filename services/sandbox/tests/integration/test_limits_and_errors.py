import asyncio

import httpx

from tandem_sandbox import Sandbox


async def _configure(client: httpx.AsyncClient, sandbox: Sandbox, system: str, **config) -> None:
    answer = await client.put(f"{sandbox.urls['control']}/_sandbox/faults/{system}", json=config)
    assert answer.status_code == 200, answer.text


async def test_a_burst_gets_429_with_retry_after_and_a_patient_client_gets_through(
    sandbox: Sandbox,
) -> None:
    psa = sandbox.urls["psa"]
    async with httpx.AsyncClient() as client:
        await _configure(client, sandbox, "psa", rate_limit={"rate": 4, "burst": 3})
        answers = [await client.get(f"{psa}/v1/projects") for _ in range(8)]
        refused = [a for a in answers if a.status_code == 429]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        assert refused, "a burst beyond the bucket must be refused"
        assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
        assert refused[0].json()["code"] == "RATE_LIMITED"

        # A client that waits as told is served.
        answer = await client.get(f"{psa}/v1/projects")
        while answer.status_code == 429:
            await asyncio.sleep(float(answer.headers["Retry-After"]))
            answer = await client.get(f"{psa}/v1/projects")
        assert answer.status_code == 200
    assert sandbox.faults["psa"].counters["rate_limited"] >= len(refused)


async def test_injected_error_rate_is_within_bounds_and_reproducible(sandbox: Sandbox) -> None:
    hris = sandbox.urls["hris"]
    async with httpx.AsyncClient() as client:
        await _configure(client, sandbox, "hris", error_rate=0.2, seed=11)
        first = [(await client.get(f"{hris}/v1/workers")).status_code for _ in range(200)]
        failures = first.count(503)
        # Binomial(200, 0.2): mean 40, sd 5.7; these bounds are beyond 3.5 sd.
        assert 20 <= failures <= 60
        assert set(first) == {200, 503}
        assert sandbox.faults["hris"].counters["errors_injected"] == failures

        await _configure(client, sandbox, "hris", error_rate=0.2, seed=11)
        again = [(await client.get(f"{hris}/v1/workers")).status_code for _ in range(200)]
    assert again == first


async def test_erp_refuses_requests_beyond_its_concurrency_limit(sandbox: Sandbox) -> None:
    erp = sandbox.urls["erp"]
    async with httpx.AsyncClient() as client:
        await _configure(client, sandbox, "erp", concurrency_limit=2, latency_ms=300)
        answers = await asyncio.gather(*(client.get(f"{erp}/v1/customers") for _ in range(6)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 2
    assert codes.count(429) == 4
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["code"] == "SSS_REQUEST_LIMIT_EXCEEDED"
    assert sandbox.faults["erp"].counters["concurrency_limited"] == 4
