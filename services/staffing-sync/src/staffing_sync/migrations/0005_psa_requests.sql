-- staffing-sync: resource requests read from the PSA become ResourceRequested.

-- Each PSA resource request read: the newest PSA version handled, the subject version of the
-- last ResourceRequested about it (0: none) and the request as announced then (null: never).
CREATE TABLE staffing_sync.psa_requests (
    request_id  text PRIMARY KEY,
    instance    text        NOT NULL,
    external_id text        NOT NULL,
    psa_version bigint      NOT NULL,
    version     bigint      NOT NULL DEFAULT 0,
    announced   jsonb,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (instance, external_id)
);
