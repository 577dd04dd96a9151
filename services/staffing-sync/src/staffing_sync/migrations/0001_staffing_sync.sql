-- staffing-sync: the workers it knows (each at its last applied HRIS version), their dated
-- cost rates, and where each worker stands in the PSA and the ERP. Links to the PSA resource
-- and the ERP employee are kept in connectors.external_refs; these are staffing-sync's own.
CREATE SCHEMA IF NOT EXISTS staffing_sync;

-- Each worker as its newest applied event left it (no personal data: the canonical Worker
-- carries the worker number, never a name). hired_in is the legal entity of the first
-- employment: its ERP employee is keyed employee:<worker>, as time-expense keys it.
CREATE TABLE staffing_sync.workers (
    worker_id       text PRIMARY KEY,
    worker_number   text        NOT NULL,
    legal_entity_id text        NOT NULL,
    hired_in        text        NOT NULL,
    status          text        NOT NULL,
    start_date      date        NOT NULL,
    last_day        date,
    role_id         text,
    version         bigint      NOT NULL,
    worker          jsonb       NOT NULL,
    onboarded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX workers_by_status ON staffing_sync.workers (status, worker_id);

-- A worker's dated cost rates, one per effective date; a newer version of a date replaces it.
CREATE TABLE staffing_sync.cost_rates (
    worker_id      text        NOT NULL,
    effective_from date        NOT NULL,
    effective_to   date,
    amount         numeric(18, 4) NOT NULL,
    currency       text        NOT NULL,
    version        bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (worker_id, effective_from)
);

-- Which worker version each system last took: the PSA resource and the ERP employee.
CREATE TABLE staffing_sync.synced (
    worker_id      text        NOT NULL,
    system         text        NOT NULL CHECK (system IN ('psa', 'erp')),
    instance       text        NOT NULL,
    external_id    text        NOT NULL,
    version        bigint      NOT NULL,
    synced_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (worker_id, system)
);

-- The worker's open problem: a message parked or waiting (for a legal entity's company),
-- with its reason; cleared when the worker next syncs.
CREATE TABLE staffing_sync.failures (
    worker_id   text PRIMARY KEY,
    event_type  text        NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    waiting_for text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
