-- project-sync after activation: what the PSA reports of a project (closed for time, milestones
-- completed, change orders approved) and the staffing side's assignments.

-- The last subject version announced for each project: every announcement about a project
-- (the saga's and those the PSA's reports make) takes the next one, so each consumer's inbox,
-- which keeps one version per subject, sees a later fact with a higher version.
CREATE TABLE project_sync.project_versions (
    project_id text PRIMARY KEY,
    version    bigint NOT NULL CHECK (version >= 1)
);

-- The project's commercial figures, as the latest approved change order set them (the saga
-- rewrites the rest of the row; these columns are the change orders' alone).
ALTER TABLE project_sync.projects
    ADD COLUMN budget      jsonb,  -- canonical Budget
    ADD COLUMN total_value jsonb,  -- canonical Money
    ADD COLUMN cap         jsonb,  -- canonical Money
    ADD COLUMN closed_reason text;  -- why the PSA closed it for time (the saga's: null)

-- Each milestone whose completion was announced (MilestoneCompleted once per milestone).
CREATE TABLE project_sync.milestones (
    milestone_id text PRIMARY KEY,
    project_id   text        NOT NULL,
    psa_instance text        NOT NULL,
    psa_task_id  text        NOT NULL,
    completed_at timestamptz NOT NULL,
    data         jsonb       NOT NULL,  -- the canonical Milestone
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (psa_instance, psa_task_id)
);
CREATE INDEX milestones_by_project ON project_sync.milestones (project_id);

-- Each approved change order announced (ChangeOrderApproved once per change order).
CREATE TABLE project_sync.change_orders (
    change_order_id text PRIMARY KEY,
    project_id      text        NOT NULL,
    psa_instance    text        NOT NULL,
    psa_id          text        NOT NULL,
    effective_from  date        NOT NULL,
    approved_at     timestamptz NOT NULL,
    data            jsonb       NOT NULL,  -- the ChangeOrderApproved payload
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (psa_instance, psa_id)
);
CREATE INDEX change_orders_by_project ON project_sync.change_orders (project_id, approved_at);

-- Assignments arrive as events whose inbox hands older versions on (the router accepts stale
-- versions): each row keeps the version applied, and a cancellation heard before its
-- confirmation is kept as a tombstone (no worker or dates yet) so the late confirmation does
-- not bring it back.
ALTER TABLE project_sync.project_assignments
    ADD COLUMN version bigint NOT NULL DEFAULT 0,
    ALTER COLUMN worker_id DROP NOT NULL,
    ALTER COLUMN start_date DROP NOT NULL,
    ALTER COLUMN end_date DROP NOT NULL;
