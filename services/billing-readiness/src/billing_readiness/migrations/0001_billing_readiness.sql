-- billing-readiness: what it knows of customers, contracts and projects (each at its newest
-- applied version), the charges it made, the entries it waits for, the invoices it proposed
-- and the ERP acknowledged, and who released what. Ids, codes and amounts only: no names,
-- no notes. Links to ERP customers, projects and invoices are kept in connectors.external_refs.
CREATE SCHEMA IF NOT EXISTS billing_readiness;

-- A customer's standing: its tax profile (ids and codes) and whether it is on credit hold.
CREATE TABLE billing_readiness.customers (
    customer_id    text PRIMARY KEY,
    version        bigint      NOT NULL,
    country        text        NOT NULL,
    currency       text        NOT NULL,
    tax_profile    jsonb       NOT NULL,
    on_credit_hold boolean     NOT NULL,
    payment_terms_days integer NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A contract (SOW) at its newest approved version; project_ids names the projects it governs.
CREATE TABLE billing_readiness.contracts (
    contract_id  text PRIMARY KEY,
    version      bigint      NOT NULL,
    contract     jsonb       NOT NULL,
    project_ids  text[]      NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX contracts_by_project ON billing_readiness.contracts USING gin (project_ids);

-- A project's billing terms as its newest activation left them (a change order updates the
-- cap and value); disputed holds every new charge until a person lifts it.
CREATE TABLE billing_readiness.projects (
    project_id      text PRIMARY KEY,
    version         bigint      NOT NULL,
    customer_id     text        NOT NULL,
    legal_entity_id text        NOT NULL,
    region          text        NOT NULL,
    currency        text        NOT NULL,
    billing_model   text        NOT NULL,
    contract_id     text,
    cap             numeric(20, 4),
    total_value     numeric(20, 4),
    start_date      date,
    end_date        date,
    po_number       text,
    payment_terms_days integer,
    disputed        boolean     NOT NULL DEFAULT false,
    correlation_id  text,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX projects_by_customer ON billing_readiness.projects (customer_id);

-- Every charge; amounts in the project's currency (an intercompany charge: the cost's).
-- status: open (not invoiced), invoiced. holds: the reasons it may not be invoiced now.
-- A reversal has a negative amount and names the charge it reverses.
CREATE TABLE billing_readiness.charges (
    charge_id     text PRIMARY KEY,
    project_id    text        NOT NULL,
    source        text        NOT NULL,
    source_id     text        NOT NULL,
    quantity      numeric(24, 8) NOT NULL,
    rate          numeric(20, 4) NOT NULL,
    amount        numeric(20, 4) NOT NULL,
    currency      text        NOT NULL,
    bill_date     date        NOT NULL,
    period        text        NOT NULL,
    billable      boolean     NOT NULL,
    holds         text[]      NOT NULL DEFAULT '{}',
    intercompany  boolean     NOT NULL DEFAULT false,
    seller_entity text,
    buyer_entity  text,
    reverses      text,
    note          text,
    category      text,
    invoice_id    text,
    status        text        NOT NULL DEFAULT 'open',
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX charges_by_project ON billing_readiness.charges (project_id, status, period);
CREATE INDEX charges_by_source ON billing_readiness.charges (source_id);
CREATE INDEX charges_open_billable ON billing_readiness.charges (project_id)
    WHERE status = 'open' AND billable;

-- Approved billable time not yet posted (readiness waits for it), and time the ERP or
-- time-expense refused and nobody resolved yet (a business exception holds the project).
CREATE TABLE billing_readiness.pending_time (
    time_entry_id text PRIMARY KEY,
    project_id    text        NOT NULL,
    work_date     date        NOT NULL,
    approved_at   timestamptz NOT NULL,
    failed_reason text
);
CREATE INDEX pending_by_project ON billing_readiness.pending_time (project_id, work_date);

-- Invoices and credit notes: proposed (InvoiceReady published), drafted and posted in the ERP.
CREATE TABLE billing_readiness.invoices (
    invoice_id     text PRIMARY KEY,
    project_id     text        NOT NULL,
    customer_id    text        NOT NULL,
    seller_entity  text        NOT NULL,
    period         text        NOT NULL,
    currency       text        NOT NULL,
    status         text        NOT NULL,
    credit_of      text,
    subtotal       numeric(20, 4) NOT NULL,
    tax_total      numeric(20, 4) NOT NULL,
    total          numeric(20, 4) NOT NULL,
    erp_instance   text,
    erp_id         text,
    number         text,
    erp_subtotal   numeric(20, 4),
    erp_tax_total  numeric(20, 4),
    erp_total      numeric(20, 4),
    proposal       jsonb       NOT NULL,
    proposed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    posted_at      timestamptz
);
CREATE INDEX invoices_by_project ON billing_readiness.invoices (project_id, period);

-- Who released or held what, and why: every person's decision on money.
CREATE TABLE billing_readiness.audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      text        NOT NULL,
    action     text        NOT NULL,
    subject    text        NOT NULL,
    reason     text        NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_subject ON billing_readiness.audit (subject, at);

-- Leakage reported, once per project, kind and day.
CREATE TABLE billing_readiness.leakage (
    project_id text NOT NULL,
    kind       text NOT NULL,
    day        date NOT NULL,
    amount     numeric(20, 4) NOT NULL,
    currency   text NOT NULL,
    items      integer NOT NULL,
    PRIMARY KEY (project_id, kind, day)
);
