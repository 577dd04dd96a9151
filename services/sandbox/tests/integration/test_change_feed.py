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


async def test_a_polled_listing_repeats_and_shuffles_records_under_the_feed_faults_but_keeps_all(
    sandbox: Sandbox,
) -> None:
    # A poll (``updated_after``) is the other way changes are read: under the feed faults a
    # page serves some records twice and out of order, never fewer; a plain listing is as is.
    hris, control = sandbox.urls["hris"], sandbox.urls["control"]
    async with httpx.AsyncClient() as client:
        for n in range(20):
            hire = {"first_name": "Ada", "last_name": f"Polled{n}", "email": f"p{n}@example.com",
                    "company": "le-de", "hire_date": "2024-01-01", "location_country": "DE",
                    "home_currency": "EUR"}  # fmt: skip
            assert (await client.post(f"{hris}/v1/hires", json=hire)).status_code == 201
        since: dict[str, str | int] = {"updated_after": "2000-01-01T00:00:00+00:00", "limit": 200}
        truth = (await client.get(f"{hris}/v1/workers", params=since)).json()["items"]
        config = {"seed": 5, "feed_duplicate_pct": 25, "feed_reorder_pct": 50}
        assert (await client.put(f"{control}/_sandbox/faults/hris", json=config)).status_code == 200
        polled = (await client.get(f"{hris}/v1/workers", params=since)).json()["items"]
        listed = (await client.get(f"{hris}/v1/workers", params={"limit": 200})).json()["items"]
    counters = sandbox.faults["hris"].counters
    ids = [item["id"] for item in polled]
    assert set(ids) == {item["id"] for item in truth}
    assert len(ids) - len(set(ids)) == counters["listing_duplicated"] == 5  # 25 % of 20
    assert counters["listing_reordered"] == 1
    assert ids[: len(truth)] != [item["id"] for item in truth]
    assert [item["id"] for item in listed] == [item["id"] for item in truth]  # not a poll
