-- project-sync: the quote-to-cash sagas and their history, the customers it links between the
-- CRM and the ERP, the opportunities' last stage, and the read model that answers set-up
-- validation and billing-code checks without calling a system. Cross-references to records
-- in the systems are kept in connectors.external_refs; these are project-sync's own state.
CREATE SCHEMA IF NOT EXISTS project_sync;

-- Each opportunity as the CRM last reported it: the ingestion classifies a stage change
-- (commit, lose, reopen) against the status here, and drops versions older than this one.
CREATE TABLE project_sync.opportunities (
    opportunity_id  text PRIMARY KEY,
    crm_instance    text        NOT NULL,
    crm_id          text        NOT NULL,
    customer_id     text        NOT NULL,
    legal_entity_id text        NOT NULL,
    stage           text        NOT NULL,
    status          text        NOT NULL
                    CHECK (status IN ('open', 'committed', 'lost', 'reopened')),
    version         bigint      NOT NULL,
    data            jsonb       NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (crm_instance, crm_id)
);

-- One saga per opportunity and generation (domain/saga/state.py): generation 0 records an
-- opportunity never committed (so a stale commit after a newer loss is recognised); each
-- commit after a loss or a reopening starts the next generation, with its own project id and
-- write keys. The row holds where the saga is, what holds it, and what it made.
CREATE TABLE project_sync.sagas (
    opportunity_id      text        NOT NULL,
    generation          integer     NOT NULL CHECK (generation >= 0),
    project_id          text CHECK ((project_id IS NULL) = (generation = 0)),
    step                text        NOT NULL CHECK (step IN (
                            'not_started', 'validate', 'erp_shell', 'psa_shell',
                            'crm_writeback', 'shell_created', 'awaiting_sow', 'activating',
                            'active', 'compensating', 'cancelled', 'flagged_for_finance')),
    -- What the API shows and filters on: held sagas as 'waiting' or 'failed', else the step.
    state               text GENERATED ALWAYS AS (
                            CASE WHEN waiting_for IS NOT NULL THEN 'waiting'
                                 WHEN failure_reason IS NOT NULL THEN 'failed'
                                 ELSE step END) STORED,
    entered_at          timestamptz NOT NULL,  -- when the current step was entered
    opportunity_version bigint      NOT NULL,
    customer_id         text,
    legal_entity_id     text,
    setup               jsonb,                 -- the proposed project (ProjectSetup)
    sow                 jsonb,                 -- the latest approved statement of work
    waiting_for         text,                  -- a dependency key (domain/keys.py)
    failure_reason      text CHECK (failure_reason IN ('setup_invalid', 'sow_not_ready',
                                                       'refused')),
    failure             jsonb,                 -- step, detail, problems, at
    resume_on           text[]      NOT NULL DEFAULT '{}',  -- keys that resume a failure
    last_error          text,                  -- the last transient error
    attempts            integer     NOT NULL DEFAULT 0,
    erp_instance        text,
    erp_project_ref     text,
    project_code        text,                  -- minted by the ERP
    psa_instance        text,
    psa_project_ref     text,
    erp_activated       boolean     NOT NULL DEFAULT false,
    compensation        jsonb,                 -- cause, at, activity counted
    recommit            jsonb,                 -- a commit waiting for this compensation
    alerted_visit       integer,               -- the visit whose stuck alert was raised
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (opportunity_id, generation),
    CHECK ((failure_reason IS NULL) = (failure IS NULL))
);
CREATE UNIQUE INDEX sagas_by_project ON project_sync.sagas (project_id)
    WHERE project_id IS NOT NULL;
CREATE INDEX sagas_by_customer ON project_sync.sagas (customer_id, opportunity_id);
CREATE INDEX sagas_by_code ON project_sync.sagas (project_code)
    WHERE project_code IS NOT NULL;
-- The watchdog's scan: sagas with somewhere to go, oldest step first.
CREATE INDEX sagas_in_flight ON project_sync.sagas (step, entered_at)
    WHERE step NOT IN ('not_started', 'active', 'cancelled', 'flagged_for_finance');
-- A released dependency finds the sagas waiting for it, or failed on it.
CREATE INDEX sagas_waiting ON project_sync.sagas (waiting_for)
    WHERE waiting_for IS NOT NULL;
CREATE INDEX sagas_resume_on ON project_sync.sagas USING gin (resume_on)
    WHERE failure_reason IS NOT NULL;
CREATE INDEX sagas_failed ON project_sync.sagas (failure_reason, updated_at)
    WHERE failure_reason IS NOT NULL;

-- Each step a saga entered, when, and when it left it: the API's timeline, and how long each
-- step took (commit to active).
CREATE TABLE project_sync.saga_steps (
    opportunity_id text        NOT NULL,
    generation     integer     NOT NULL,
    visit          integer     NOT NULL CHECK (visit >= 0),  -- index in the saga's history
    step           text        NOT NULL,
    entered_at     timestamptz NOT NULL,
    left_at        timestamptz,
    PRIMARY KEY (opportunity_id, generation, visit),
    FOREIGN KEY (opportunity_id, generation) REFERENCES project_sync.sagas
);

-- Everything that moved a saga, in order: the event (a CRM signal, a step's result or
-- failure, a released dependency, an operator's retry / resume / cancel), the state it left
-- the saga in, and for an operator action who did it and why (audited).
CREATE TABLE project_sync.saga_log (
    id             bigserial   PRIMARY KEY,
    opportunity_id text        NOT NULL,
    generation     integer     NOT NULL,
    event          text        NOT NULL,
    step           text        NOT NULL,
    state          text        NOT NULL,
    detail         jsonb       NOT NULL DEFAULT '{}',
    actor          text,
    why            text,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (opportunity_id, generation) REFERENCES project_sync.sagas,
    CHECK ((actor IS NULL) = (why IS NULL))
);
CREATE INDEX saga_log_by_saga ON project_sync.saga_log (opportunity_id, generation, id);
CREATE INDEX saga_log_by_actor ON project_sync.saga_log (at) WHERE actor IS NOT NULL;

-- Each CRM account and the one ERP customer it became (found by key or tax id before
-- creating, never a duplicate), with the tax problems found in its registration (typed
-- problems, domain/tax.py; empty: fit to invoice). Set-up validation reads it.
CREATE TABLE project_sync.customers (
    customer_id      text PRIMARY KEY,
    crm_instance     text        NOT NULL,
    crm_account_id   text        NOT NULL,
    legal_entity_id  text        NOT NULL,
    country          text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    tax_id           text,                  -- normalised (domain/tax.py)
    tax_problems     jsonb       NOT NULL DEFAULT '[]',
    erp_instance     text,
    erp_customer_ref text,
    matched_by       text CHECK (matched_by IN ('key', 'tax_id', 'created')),
    linked_at        timestamptz,           -- when the ERP customer was found or created
    crm_linked_at    timestamptz,           -- when its id was written back to the account
    version          bigint      NOT NULL,  -- the CRM account's version last applied
    data             jsonb       NOT NULL,  -- the canonical Customer
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (crm_instance, crm_account_id),
    CHECK ((erp_customer_ref IS NULL) = (linked_at IS NULL))
);
CREATE INDEX customers_unlinked ON project_sync.customers (updated_at)
    WHERE erp_customer_ref IS NULL;
CREATE INDEX customers_by_tax_id ON project_sync.customers (tax_id)
    WHERE tax_id IS NOT NULL;

-- Reference data kept from events, for set-up validation: legal entities (and the currencies
-- each may sell in; TANDEM_ENTITY_CURRENCIES overrides when set) ...
CREATE TABLE project_sync.legal_entities (
    legal_entity_id     text PRIMARY KEY,
    country             text        NOT NULL,
    functional_currency text        NOT NULL,
    currencies          text[]      NOT NULL,
    allowed             boolean     NOT NULL DEFAULT true,  -- may it sell projects?
    data                jsonb       NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- ... and rate cards (a set-up names one, or takes the published one of its currency).
CREATE TABLE project_sync.rate_cards (
    rate_card_id text PRIMARY KEY,
    currency     text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('draft', 'published', 'superseded')),
    version      integer     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_cards_published ON project_sync.rate_cards (currency)
    WHERE status = 'published';

-- The read model of projects: one row per project a saga made, kept by the saga and by the
-- PSA's and ERP's later reports (closed for time, change orders). The billing-code check
-- (is this code open for time on this date?) is one index lookup here.
CREATE TABLE project_sync.projects (
    project_id               text PRIMARY KEY,
    code                     text,
    erp_instance             text,
    opportunity_id           text        NOT NULL,
    generation               integer     NOT NULL CHECK (generation >= 1),
    customer_id              text        NOT NULL,
    legal_entity_id          text        NOT NULL,
    currency                 text        NOT NULL,
    status                   text        NOT NULL CHECK (status IN (
                                 'shell', 'planned', 'active', 'on_hold', 'completed',
                                 'closed', 'cancelled')),
    billing_model            text,
    contract_id              text,
    open_from                date,     -- time dated from here is accepted (activation)
    closed_from              date,     -- time dated from here is refused (closed for time)
    time_requires_assignment boolean     NOT NULL DEFAULT false,
    flagged_for_finance      boolean     NOT NULL DEFAULT false,
    data                     jsonb       NOT NULL,  -- the canonical Project
    updated_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (opportunity_id, generation) REFERENCES project_sync.sagas,
    CHECK (closed_from IS NULL OR open_from IS NULL OR closed_from >= open_from)
);
-- Codes are minted per ERP: unique within one ERP instance, looked up by code.
CREATE UNIQUE INDEX projects_by_code ON project_sync.projects (erp_instance, code)
    WHERE code IS NOT NULL;
CREATE INDEX projects_by_code_only ON project_sync.projects (code) WHERE code IS NOT NULL;
CREATE INDEX projects_by_customer ON project_sync.projects (customer_id);

-- Who may book to a project that requires an assignment, and when (from AssignmentConfirmed
-- and AssignmentCancelled): the "for this worker" part of the billing-code check.
CREATE TABLE project_sync.project_assignments (
    assignment_id text PRIMARY KEY,
    project_id    text        NOT NULL,
    worker_id     text        NOT NULL,
    start_date    date        NOT NULL,
    end_date      date        NOT NULL,
    status        text        NOT NULL CHECK (status IN (
                      'proposed', 'confirmed', 'active', 'completed', 'cancelled')),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (end_date >= start_date)
);
CREATE INDEX project_assignments_by_worker
    ON project_sync.project_assignments (project_id, worker_id, start_date);
