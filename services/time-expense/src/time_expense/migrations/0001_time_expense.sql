-- time-expense: what it learned from other contexts, its posting ledger, and its exceptions.
CREATE SCHEMA IF NOT EXISTS time_expense;

-- Reference data, kept from events (each row the latest version seen).
CREATE TABLE time_expense.projects (
    project_id      text PRIMARY KEY,
    legal_entity_id text        NOT NULL,
    data            jsonb       NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE time_expense.assignments (
    assignment_id text PRIMARY KEY,
    project_id    text  NOT NULL,
    worker_id     text,
    data          jsonb NOT NULL
);
CREATE INDEX assignments_by_project_worker ON time_expense.assignments (project_id, worker_id);
CREATE TABLE time_expense.rate_cards (
    rate_card_id text PRIMARY KEY,
    currency     text    NOT NULL,
    version      integer NOT NULL,
    data         jsonb   NOT NULL
);
CREATE TABLE time_expense.cost_rates (
    worker_id      text  NOT NULL,
    effective_from date  NOT NULL,
    data           jsonb NOT NULL,
    PRIMARY KEY (worker_id, effective_from)
);
CREATE TABLE time_expense.fx_rates (
    rate_id        text PRIMARY KEY,
    base           text  NOT NULL,
    quote          text  NOT NULL,
    effective_date date  NOT NULL,
    data           jsonb NOT NULL
);
CREATE TABLE time_expense.periods (
    legal_entity_id text NOT NULL,
    start_date      date NOT NULL,
    end_date        date NOT NULL,
    status          text NOT NULL,
    data            jsonb NOT NULL,
    PRIMARY KEY (legal_entity_id, start_date)
);

-- One row per time entry: where it stands and what is posted for it.
CREATE TABLE time_expense.entries (
    entry_id        text PRIMARY KEY,
    version         integer     NOT NULL,
    stage           text        NOT NULL,
    worker_id       text        NOT NULL,
    project_id      text        NOT NULL,
    timesheet_id    text,
    legal_entity_id text        NOT NULL,
    region          text        NOT NULL,
    work_date       date        NOT NULL,
    current         jsonb,
    posted          jsonb,
    posted_version  integer,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX entries_by_project ON time_expense.entries (project_id, work_date);
CREATE INDEX entries_by_timesheet ON time_expense.entries (timesheet_id);

-- The posting journal: every line Tandem wrote to an ERP, reversals negative.
CREATE TABLE time_expense.postings (
    key             text PRIMARY KEY,
    subject_type    text        NOT NULL CHECK (subject_type IN ('time_entry', 'expense')),
    subject_id      text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('post', 'reversal')),
    erp_instance    text        NOT NULL,
    erp_id          text        NOT NULL,
    project_id      text        NOT NULL,
    worker_id       text        NOT NULL,
    legal_entity_id text        NOT NULL,
    work_date       date        NOT NULL,
    accounting_date date        NOT NULL,
    late            boolean     NOT NULL DEFAULT false,
    minutes         integer     NOT NULL DEFAULT 0,
    bill_amount     numeric,
    cost_amount     numeric,
    amount          numeric,
    currency        text        NOT NULL,
    posted_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    sequence        bigserial
);
CREATE INDEX postings_by_subject ON time_expense.postings (subject_id);
CREATE INDEX postings_by_project_period ON time_expense.postings (project_id, accounting_date);

-- Business exceptions: one open row per subject, resolved when it finally posts.
CREATE TABLE time_expense.exceptions (
    subject_type    text        NOT NULL,
    subject_id      text        NOT NULL,
    event_id        uuid        NOT NULL,
    reason          text        NOT NULL,
    detail          text        NOT NULL,
    retryable       boolean     NOT NULL,
    waiting_for     text,
    project_id      text,
    worker_id       text,
    legal_entity_id text,
    region          text,
    org_unit_ids    text[]      NOT NULL DEFAULT '{}',
    opened_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at     timestamptz,
    PRIMARY KEY (subject_type, subject_id)
);
CREATE INDEX open_exceptions ON time_expense.exceptions (reason) WHERE resolved_at IS NULL;

-- Expenses: posted once when approved.
CREATE TABLE time_expense.expenses (
    expense_id  text PRIMARY KEY,
    version     integer     NOT NULL,
    stage       text        NOT NULL,
    current     jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
