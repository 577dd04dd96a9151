import httpx

from tandem_sandbox import Sandbox


async def test_stage_change_emits_an_event_and_code_write_back_needs_a_won_deal(
    sandbox: Sandbox,
) -> None:
    crm = sandbox.urls["crm"]
    async with httpx.AsyncClient() as client:
        account = await client.post(
            f"{crm}/v1/accounts", json={"name": "Initech", "country": "US", "currency": "USD"}
        )
        opportunity = await client.post(
            f"{crm}/v1/opportunities",
            json={
                "account_id": account.json()["id"],
                "name": "Data platform",
                "amount": "250000.00",
                "currency": "USD",
                "close_date": "2026-06-30",
            },
        )
        url = f"{crm}/v1/opportunities/{opportunity.json()['id']}"
        early = await client.patch(url, json={"erp_project_code": "PRJ-00001"})
        won = await client.patch(url, json={"stage": "Closed Won"})
        linked = await client.patch(url, json={"erp_project_code": "PRJ-00001"})
        dangling = await client.post(
            f"{crm}/v1/opportunities",
            json={
                "account_id": "acc_missing",
                "name": "x",
                "amount": "1",
                "currency": "USD",
                "close_date": "2026-06-30",
            },
        )
        events = (await client.get(f"{crm}/v1/events")).json()["events"]
    assert opportunity.json()["probability"] == 10
    assert early.json()["code"] == "OPPORTUNITY_NOT_WON"
    assert won.json()["probability"] == 100
    assert linked.json()["erp_project_code"] == "PRJ-00001"
    assert dangling.json()["code"] == "INVALID_REFERENCE"
    changes = [e["data"] for e in events if e["type"] == "opportunity.stage_changed"]
    assert [(c["from"], c["to"]) for c in changes] == [("Prospecting", "Closed Won")]


async def test_hire_mints_a_number_and_cost_rates_are_effective_dated(sandbox: Sandbox) -> None:
    hris = sandbox.urls["hris"]
    async with httpx.AsyncClient() as client:
        hired = await client.post(
            f"{hris}/v1/hires",
            json={
                "first_name": "Grace",
                "last_name": "Hopper",
                "email": "grace@example.com",
                "company": "le-us",
                "hire_date": "2024-01-01",
                "location_country": "US",
                "home_currency": "USD",
                "cost_rate": {"amount": "80.00", "currency": "USD", "effective_from": "2024-01-01"},
            },
        )
        worker = hired.json()["id"]
        raised = await client.post(
            f"{hris}/v1/workers/{worker}/cost-rates",
            json={"amount": "90.00", "currency": "USD", "effective_from": "2025-01-01"},
        )
        rates = (await client.get(f"{hris}/v1/workers/{worker}/cost-rates")).json()["items"]
        ended = await client.post(
            f"{hris}/v1/workers/{worker}/terminations", json={"termination_date": "2025-06-30"}
        )
        again = await client.post(
            f"{hris}/v1/workers/{worker}/terminations", json={"termination_date": "2025-06-30"}
        )
    assert hired.json()["worker_number"] == "W000001"
    assert hired.json()["status"] == "active"
    assert raised.status_code == 201
    by_start = {rate["effective_from"]: rate for rate in rates}
    assert by_start["2024-01-01"]["effective_to"] == "2024-12-31"
    assert by_start["2025-01-01"]["effective_to"] is None
    assert ended.json()["status"] == "terminated"
    assert again.json()["code"] == "ALREADY_TERMINATED"
