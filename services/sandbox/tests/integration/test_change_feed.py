from typing import Any

import httpx

from tandem_sandbox import Sandbox


async def _read_all(client: httpx.AsyncClient, base: str, limit: int) -> list[dict[str, Any]]:
    read: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        params = {"limit": limit, **({"after": cursor} if cursor else {})}
        page = (await client.get(f"{base}/v1/events", params=params)).json()
        read.extend(page["events"])
        cursor = page["next"]
        if not page["more"]:
            return read
    raise AssertionError("the feed never ended")


async def test_feed_pages_carry_duplicates_and_disorder_but_lose_nothing(sandbox: Sandbox) -> None:
    hris, control = sandbox.urls["hris"], sandbox.urls["control"]
    async with httpx.AsyncClient() as client:
        for n in range(30):
            hire = {
                "first_name": "Ada",
                "last_name": f"Number{n}",
                "email": f"ada{n}@example.com",
                "company": "le-de",
                "hire_date": "2024-01-01",
                "location_country": "DE",
                "home_currency": "EUR",
            }
            assert (await client.post(f"{hris}/v1/hires", json=hire)).status_code == 201
        # The truth: the feed read without faults.
        truth = await _read_all(client, hris, 200)

        config = {"seed": 3, "feed_duplicate_pct": 20, "feed_reorder_pct": 25}
        assert (await client.put(f"{control}/_sandbox/faults/hris", json=config)).status_code == 200
        read = await _read_all(client, hris, 7)
    counters = sandbox.faults["hris"].counters
    ids = [event["id"] for event in read]
    # Two events per hire (worker.created, worker.hired), every one of them read.
    assert len(truth) == 60
    assert set(ids) == {event["id"] for event in truth}
    assert counters["feed_duplicated"] > 0
    assert counters["feed_reordered"] > 0
    assert len(ids) - len(set(ids)) == counters["feed_duplicated"]
    seqs = [int(i.rsplit("_", 1)[1]) for i in ids]
    assert seqs != sorted(seqs)
