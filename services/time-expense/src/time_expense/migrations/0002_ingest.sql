-- What time-expense received from the PSA (webhooks and polling), before it becomes events.
CREATE TABLE time_expense.inbound (
    sequence    bigserial PRIMARY KEY,
    source      text        NOT NULL,
    record_type text        NOT NULL CHECK (record_type IN ('time_entry', 'expense')),
    record_id   text        NOT NULL,
    version     integer     NOT NULL,
    via         text        NOT NULL CHECK (via IN ('webhook', 'poll', 'reconcile')),
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    status      text        NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'published', 'ignored')),
    detail      text,
    UNIQUE (source, record_type, record_id, version)
);
CREATE INDEX inbound_pending ON time_expense.inbound (sequence) WHERE status = 'pending';

-- Workers as HR announced them (their legal entity completes a PSA entry).
CREATE TABLE time_expense.workers (
    worker_id       text PRIMARY KEY,
    legal_entity_id text  NOT NULL,
    data            jsonb NOT NULL
);

-- The residency region of a project's legal entity, as its activation said.
ALTER TABLE time_expense.projects ADD COLUMN region text;
