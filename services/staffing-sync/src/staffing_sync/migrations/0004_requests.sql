-- staffing-sync slice 5: resource requests and the staffing options proposed for them.

-- Each request as last handled: the request itself (its newest version), the subject version
-- of the last StaffingOptionsProposed about it, and the proposal it carried (each option with
-- its score breakdown and reasons; each candidate left out with every reason). A request that
-- waits (its project not activated here yet) or was set aside is kept with why, and no
-- proposal. A request cancelled or assigned is kept as 'closed', not ranked.
CREATE TABLE staffing_sync.requests (
    request_id      text PRIMARY KEY,
    project_id      text,
    request_version bigint      NOT NULL,
    version         bigint      NOT NULL DEFAULT 0,
    status          text        NOT NULL CHECK (status IN ('proposed', 'closed', 'waiting', 'failed')),
    problem         text,
    request         jsonb       NOT NULL,
    options         jsonb       NOT NULL DEFAULT '[]',
    excluded        jsonb       NOT NULL DEFAULT '[]',
    proposed_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX requests_newest ON staffing_sync.requests (updated_at DESC, request_id DESC);
CREATE INDEX requests_by_project
    ON staffing_sync.requests (project_id, updated_at DESC, request_id DESC);

-- Candidates are narrowed in SQL by the dates they are employed over, their role and entity.
CREATE INDEX workers_by_role ON staffing_sync.workers (role_id, start_date);
