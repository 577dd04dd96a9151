-- Reconciliation runs: PSA approved time against the ERP's lines, per legal entity and period.
CREATE TABLE time_expense.reconciliation_runs (
    sequence        bigserial PRIMARY KEY,
    run_id          text        NOT NULL UNIQUE,
    legal_entity_id text        NOT NULL,
    start_date      date        NOT NULL,
    end_date        date        NOT NULL,
    trigger         text        NOT NULL CHECK (trigger IN ('schedule', 'request')),
    psa_entries     integer     NOT NULL,
    erp_lines       integer     NOT NULL,
    mismatches      jsonb       NOT NULL,
    repaired        text[]      NOT NULL DEFAULT '{}',
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX reconciliation_runs_by_entity ON time_expense.reconciliation_runs
    (legal_entity_id, start_date, finished_at DESC);
