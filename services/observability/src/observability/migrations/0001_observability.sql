-- observability's own schema: timeline steps, their keys, and the KPI tables the projector
-- folds the steps into. Only ids, codes, numbers and dates are stored (DOMAIN.md §4.7).
CREATE SCHEMA IF NOT EXISTS observability;

-- One row per event seen on the bus (the consumer's inbox makes it once).
CREATE TABLE observability.steps (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    event_type     text NOT NULL,
    service        text NOT NULL,
    system         text,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    outcome        text NOT NULL,
    reason         text,
    subject_type   text NOT NULL,
    subject_id     text NOT NULL,
    correlation_id text NOT NULL,
    causation_id   text,
    region         text NOT NULL,
    legal_entity_id text,
    trace_id       text,
    keys           jsonb NOT NULL,
    system_ids     jsonb NOT NULL,
    facts          jsonb NOT NULL,
    -- Folded into the KPIs (a step with no facts is born folded). A flag, not a watermark on
    -- seq: lanes commit out of seq order, and a watermark would pass a step still uncommitted.
    folded         boolean NOT NULL
);
CREATE INDEX steps_unfolded ON observability.steps (seq) WHERE NOT folded;
CREATE INDEX steps_by_correlation ON observability.steps (correlation_id, occurred_at);
CREATE INDEX steps_by_recorded ON observability.steps (recorded_at);

-- Every business key and system id a step names: "where is this invoice" is one lookup.
CREATE TABLE observability.step_keys (
    key_id         text NOT NULL,
    kind           text NOT NULL,
    seq            bigint NOT NULL,
    correlation_id text NOT NULL,
    PRIMARY KEY (key_id, kind, seq)
);
CREATE INDEX step_keys_by_seq ON observability.step_keys (seq);

-- When the KPI projector last folded steps in, and the highest step it folded.
CREATE TABLE observability.projector (
    name      text PRIMARY KEY,
    last_seq  bigint NOT NULL,
    moved_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO observability.projector (name, last_seq) VALUES ('kpis', 0);

-- Sync completeness per domain; a flow's latency feeds its SLO.
CREATE TABLE observability.flows (
    domain       text NOT NULL,
    key          text NOT NULL,
    region       text NOT NULL,
    started_at   timestamptz,
    completed_at timestamptz,
    observed     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (domain, key)
);

CREATE TABLE observability.workers (
    worker_id   text PRIMARY KEY,
    region      text NOT NULL,
    legal_entity_id text,
    org_unit_id text,
    hire_date   date,
    last_day    date
);

CREATE TABLE observability.time_entries (
    entry_id       text PRIMARY KEY,
    timesheet_id   text,
    worker_id      text,
    project_id     text,
    region         text NOT NULL,
    work_date      date,
    minutes        integer,
    billable       boolean,
    standard_value numeric(20, 6),
    currency       text,
    submitted_at   timestamptz,
    approved_at    timestamptz,
    posted_at      timestamptz,
    rejected       boolean NOT NULL DEFAULT false
);
CREATE INDEX time_entries_by_month ON observability.time_entries (region, work_date);

CREATE TABLE observability.allocations (
    assignment_id   text PRIMARY KEY,
    worker_id       text NOT NULL,
    region          text NOT NULL,
    start_date      date NOT NULL,
    end_date        date NOT NULL,
    minutes_per_day integer,
    total_minutes   integer NOT NULL,
    hard            boolean NOT NULL,
    cancelled       boolean NOT NULL DEFAULT false
);

CREATE TABLE observability.charges (
    charge_id   text PRIMARY KEY,
    project_id  text NOT NULL,
    region      text NOT NULL,
    source      text NOT NULL,
    source_ids  text[] NOT NULL,
    amount      numeric(20, 6) NOT NULL,
    currency    text NOT NULL,
    bill_date   date NOT NULL,
    invoice_id  text,
    invoiced_at timestamptz
);
CREATE INDEX charges_unbilled ON observability.charges (region) WHERE invoiced_at IS NULL;
CREATE INDEX charges_by_source ON observability.charges USING gin (source_ids);

CREATE TABLE observability.invoices (
    invoice_id  text PRIMARY KEY,
    region      text NOT NULL,
    currency    text NOT NULL,
    subtotal    numeric(20, 6) NOT NULL,
    charge_ids  text[] NOT NULL,
    posted_at   timestamptz
);

-- The latest leakage per project and kind (each scan restates it).
CREATE TABLE observability.leakage (
    project_id  text NOT NULL,
    kind        text NOT NULL,
    currency    text NOT NULL,
    region      text NOT NULL,
    amount      numeric(20, 6) NOT NULL,
    items       integer NOT NULL,
    detected_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, kind, currency)
);

CREATE TABLE observability.mismatches (
    seq         bigint PRIMARY KEY,
    service     text NOT NULL,
    domain      text NOT NULL,
    region      text NOT NULL,
    run_id      text NOT NULL,
    kind        text NOT NULL,
    scope_key   text NOT NULL,
    project_id  text,
    detected_at timestamptz NOT NULL
);
CREATE INDEX mismatches_by_domain ON observability.mismatches (domain, detected_at DESC);

-- A consultant's month announced as a breach once per direction.
CREATE TABLE observability.breaches (
    worker_id text NOT NULL,
    period    text NOT NULL,
    direction text NOT NULL,
    PRIMARY KEY (worker_id, period, direction)
);

-- What operators did from the console, with their reason.
CREATE TABLE observability.console_audit (
    id       uuid PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    service  text NOT NULL,
    ids      text[] NOT NULL,
    why      text NOT NULL,
    count    integer NOT NULL,
    outcome  text NOT NULL
);
CREATE INDEX console_audit_by_time ON observability.console_audit (at DESC);
