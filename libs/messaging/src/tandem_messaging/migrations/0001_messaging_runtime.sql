-- Tables of the messaging runtime, in the schema "messaging" of each service's database.
CREATE SCHEMA IF NOT EXISTS messaging;

-- Transactional outbox: written in the same transaction as the state change it announces.
CREATE TABLE messaging.outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    partition_key text        NOT NULL,
    bucket        smallint    NOT NULL,  -- hash(partition_key) mod buckets: one relay per bucket
    exchange      text        NOT NULL,
    routing_key   text        NOT NULL,
    event_type    text        NOT NULL,
    message_type  text        NOT NULL,  -- AMQP type property, e.g. TimeApproved.v1
    correlation_id text       NOT NULL,
    body          bytea       NOT NULL,
    headers       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON messaging.outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON messaging.outbox (published_at) WHERE published_at IS NOT NULL;

-- Inbox: one row per (consumer, event) handled, committed with the handler's effects.
CREATE TABLE messaging.inbox (
    consumer        text        NOT NULL,
    event_id        uuid        NOT NULL,
    idempotency_key text        NOT NULL,
    event_type      text        NOT NULL,
    handled_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);
CREATE UNIQUE INDEX inbox_idempotency ON messaging.inbox (consumer, idempotency_key);

-- Latest subject version each consumer has applied: older versions are stale.
CREATE TABLE messaging.subject_versions (
    consumer     text   NOT NULL,
    subject_type text   NOT NULL,
    subject_id   text   NOT NULL,
    version      bigint NOT NULL,
    PRIMARY KEY (consumer, subject_type, subject_id)
);

-- Parking lot: messages that exhausted retries, can never succeed, or wait for a dependency.
CREATE TABLE messaging.parked (
    id               uuid        PRIMARY KEY,
    consumer         text        NOT NULL,
    queue            text        NOT NULL,
    event_id         uuid,
    event_type       text,
    routing_key      text        NOT NULL,
    body             bytea       NOT NULL,
    headers          jsonb       NOT NULL,
    reason           text        NOT NULL,
    detail           text        NOT NULL,
    exception_class  text,
    attempts         integer     NOT NULL,
    first_failure_at timestamptz NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    waiting_for      text,
    status           text        NOT NULL DEFAULT 'parked'
                     CHECK (status IN ('parked', 'replayed', 'released')),
    parked_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at      timestamptz
);
CREATE INDEX parked_open ON messaging.parked (consumer, reason) WHERE status = 'parked';
CREATE INDEX parked_waiting ON messaging.parked (consumer, waiting_for) WHERE status = 'parked';

-- Dependencies that have been satisfied: a message parked for one of them is released.
CREATE TABLE messaging.satisfied_dependencies (
    consumer     text        NOT NULL,
    key          text        NOT NULL,
    satisfied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, key)
);

-- Audit of every replay: who, when, why, which messages.
CREATE TABLE messaging.replay_audit (
    id          uuid        PRIMARY KEY,
    actor       text        NOT NULL,
    reason      text        NOT NULL,
    selection   jsonb       NOT NULL,
    message_ids uuid[]      NOT NULL,
    replayed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
