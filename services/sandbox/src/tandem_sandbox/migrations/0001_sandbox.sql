-- The sandbox systems of record: one generic, versioned record store shared by CRM, PSA, HRIS
-- and ERP, each row keyed by (system, collection, id), plus each system's change events and
-- webhook subscriptions. Dev and test only.
CREATE SCHEMA IF NOT EXISTS sandbox;

-- One monotonic change sequence across systems: every write takes the next value, so a page of
-- records ordered by seq is a page of changes in commit order.
CREATE SEQUENCE sandbox.change_seq;

CREATE TABLE sandbox.records (
    system      text        NOT NULL,
    collection  text        NOT NULL,
    id          text        NOT NULL,
    external_id text,
    version     integer     NOT NULL DEFAULT 1,
    seq         bigint      NOT NULL DEFAULT nextval('sandbox.change_seq'),
    data        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (system, collection, id)
);
-- Upsert by external id (NetSuite externalId, Salesforce External ID): one record per key.
CREATE UNIQUE INDEX records_external_id
    ON sandbox.records (system, collection, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX records_by_seq ON sandbox.records (system, collection, seq);

CREATE TABLE sandbox.events (
    seq          bigserial   PRIMARY KEY,
    system       text        NOT NULL,
    type         text        NOT NULL,
    subject_type text        NOT NULL,
    subject_id   text        NOT NULL,
    data         jsonb       NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX events_by_system ON sandbox.events (system, seq);

-- Business numbers a system mints (project code, worker number, invoice number): gapless,
-- because the counter row is updated in the transaction that uses the number.
CREATE TABLE sandbox.counters (
    system text   NOT NULL,
    name   text   NOT NULL,
    value  bigint NOT NULL,
    PRIMARY KEY (system, name)
);

CREATE TABLE sandbox.subscriptions (
    id          text        PRIMARY KEY,
    system      text        NOT NULL,
    url         text        NOT NULL,
    secret      text        NOT NULL,
    event_types text[]      NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX subscriptions_by_system ON sandbox.subscriptions (system);
