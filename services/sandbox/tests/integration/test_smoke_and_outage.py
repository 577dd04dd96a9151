import httpx
import pytest

from tandem_sandbox import Sandbox
from tandem_testing import eventually


async def test_each_system_answers_on_its_own_port(sandbox: Sandbox) -> None:
    urls = sandbox.urls
    assert len({urls[name] for name in ("crm", "psa", "hris", "erp", "control")}) == 5
    async with httpx.AsyncClient() as client:
        for name in ("crm", "psa", "hris", "erp"):
            answer = await client.get(f"{urls[name]}/v1/events")
            assert answer.status_code == 200, name
        systems = (await client.get(f"{urls['control']}/_sandbox/systems")).json()
    assert all(system["up"] for system in systems.values())


async def test_an_outage_gives_connection_errors_then_service_resumes(sandbox: Sandbox) -> None:
    crm, control = sandbox.urls["crm"], sandbox.urls["control"]
    async with httpx.AsyncClient(timeout=2) as client:
        # A kept-alive connection exists before the outage: it must be reset, not answered.
        assert (await client.get(f"{crm}/v1/accounts")).status_code == 200
        window = await client.post(
            f"{control}/_sandbox/faults/crm/outages", json={"duration_s": 0.6}
        )
        assert window.status_code == 202

        async def refused() -> bool:
            try:
                await client.get(f"{crm}/v1/accounts")
            except httpx.TransportError:
                return True
            return False

        await eventually(refused, within=2, what="connections refused")
        with pytest.raises(httpx.TransportError):
            async with httpx.AsyncClient(timeout=2) as fresh:
                await fresh.get(f"{crm}/v1/accounts")

        async def served() -> bool:
            try:
                return (await client.get(f"{crm}/v1/accounts")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(served, within=3, what="the system served again")
        report = (await client.get(f"{control}/_sandbox/faults/crm")).json()
    assert report["up"] is True
    assert report["counters"]["outages_started"] == 1
    assert report["outages"][0]["phase"] == "over"
