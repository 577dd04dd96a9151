"""Envelopes stored as PostgreSQL JSONB read back equal, and stay queryable by their metadata."""

import asyncpg

from tandem_contracts import decode, encode
from tandem_contracts.samples import sample_envelopes


async def test_every_envelope_round_trips_through_jsonb(database_url: str) -> None:
    envelopes = sample_envelopes()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "CREATE TABLE event_log (event_id uuid PRIMARY KEY, body jsonb NOT NULL)"
        )
        # Store each envelope as JSONB (keys are reordered, whitespace dropped by PostgreSQL).
        await connection.executemany(
            "INSERT INTO event_log (event_id, body) VALUES ($1, $2::jsonb)",
            [(e.event_id, encode(e).decode()) for e in envelopes],
        )
        rows = await connection.fetch("SELECT body::text AS body FROM event_log")
        by_id = {str(e.event_id): e for e in envelopes}
        read_back = [decode(row["body"].encode()) for row in rows]

        # Metadata is queryable in SQL, and money stays an exact decimal string.
        eu_count = await connection.fetchval(
            "SELECT count(*) FROM event_log WHERE body->>'data_residency_region' = 'eu'"
        )
        amount_type = await connection.fetchval(
            "SELECT jsonb_typeof(body #> '{payload,entry,bill_rate,amount}') FROM event_log "
            "WHERE body->>'event_type' = 'TimeApproved'"
        )
    finally:
        await connection.close()

    assert len(read_back) == len(envelopes)
    for envelope in read_back:
        assert envelope == by_id[str(envelope.event_id)]
    assert eu_count == sum(1 for e in envelopes if e.data_residency_region == "eu")
    assert amount_type == "string"
