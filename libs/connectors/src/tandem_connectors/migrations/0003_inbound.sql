-- What systems of record sent (signed webhooks, polled feeds, reconciliation re-drives), landed
-- once per record version before a service turns it into events, in arrival order per source.
CREATE TABLE connectors.inbound (
    sequence    bigserial   PRIMARY KEY,
    system      text        NOT NULL,
    instance    text        NOT NULL,
    record_type text        NOT NULL,
    record_id   text        NOT NULL,
    version     bigint      NOT NULL,
    via         text        NOT NULL CHECK (via IN ('webhook', 'poll', 'reconcile', 'replay')),
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    status      text        NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'published', 'ignored', 'rejected')),
    detail      text,
    settled_at  timestamptz,
    UNIQUE (system, instance, record_type, record_id, version)
);
-- Ingestion reads one source's pending rows in landing order: one ordered index scan.
CREATE INDEX inbound_pending ON connectors.inbound (system, instance, sequence)
    WHERE status = 'pending';
CREATE INDEX inbound_rejected ON connectors.inbound (system, instance, sequence)
    WHERE status = 'rejected';

-- Links an operator made or removed by hand: who, why, when.
CREATE TABLE connectors.link_audit (
    id             bigserial   PRIMARY KEY,
    canonical_type text        NOT NULL,
    canonical_id   text        NOT NULL,
    system         text        NOT NULL,
    instance       text        NOT NULL,
    object_type    text        NOT NULL,
    external_id    text        NOT NULL,
    actor          text        NOT NULL,
    reason         text        NOT NULL,
    at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
