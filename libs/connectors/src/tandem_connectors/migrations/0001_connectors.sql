-- Connector state, in the schema "connectors" of the service's database.
CREATE SCHEMA IF NOT EXISTS connectors;

-- Canonical id <-> external id per system instance (DOMAIN.md 2.1 ExternalRef).
CREATE TABLE connectors.external_refs (
    canonical_type   text        NOT NULL,
    canonical_id     text        NOT NULL,
    system           text        NOT NULL,
    instance         text        NOT NULL,
    object_type      text        NOT NULL,
    external_id      text        NOT NULL,
    external_version text,
    sync_status      text        NOT NULL DEFAULT 'successful'
                     CHECK (sync_status IN ('pending', 'successful', 'failed')),
    last_synced_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error       jsonb,
    PRIMARY KEY (system, instance, object_type, external_id),
    UNIQUE (canonical_type, canonical_id, system, instance, object_type)
);

-- Signed webhook deliveries already accepted: a replayed delivery is refused.
CREATE TABLE connectors.webhook_deliveries (
    system      text        NOT NULL,
    instance    text        NOT NULL,
    delivery_id text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (system, instance, delivery_id)
);
