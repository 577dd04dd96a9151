-- staffing-sync slice 2: what the HRIS said, kept apart from what the worker events applied
-- (staffing_sync.workers, cost_rates). Ingestion judges each landed HRIS version against these.

-- Each worker's newest HRIS version (a domain WorkerVersion in canonical ids). Its email is
-- kept as a digest only: enough to see that it changed, without holding the address.
CREATE TABLE staffing_sync.hris_workers (
    worker_id   text PRIMARY KEY,
    instance    text        NOT NULL,
    external_id text        NOT NULL,
    version     bigint      NOT NULL,
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (instance, external_id)
);

-- Each worker's dated cost rates as the HRIS wrote them, one per start date (the later write
-- of a date wins: written_at, then version). Kept for workers not seen yet too: their hire
-- announces them.
CREATE TABLE staffing_sync.hris_cost_rates (
    worker_id      text           NOT NULL,
    effective_from date           NOT NULL,
    amount         numeric(18, 4) NOT NULL,
    currency       text           NOT NULL,
    written_at     timestamptz    NOT NULL,
    version        bigint         NOT NULL,
    PRIMARY KEY (worker_id, effective_from)
);

-- The last subject version announced for each worker: every worker event, cost rates
-- included, takes the next one, so each consumer's inbox (one version per subject) sees a
-- later fact with a higher version.
CREATE TABLE staffing_sync.worker_versions (
    worker_id text PRIMARY KEY,
    version   bigint NOT NULL CHECK (version >= 1)
);
