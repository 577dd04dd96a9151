-- billing-readiness: the published rate cards (newest version each), the org units a project
-- belongs to (by which a practice's or a region's card applies), and each time charge's
-- standard rate (the rate card's, at the work date): time billed below it is leakage.
CREATE TABLE billing_readiness.rate_cards (
    rate_card_id text PRIMARY KEY,
    version      bigint      NOT NULL,
    currency     text        NOT NULL,
    card         jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_cards_by_currency ON billing_readiness.rate_cards (currency);

ALTER TABLE billing_readiness.projects ADD COLUMN org_unit_ids text[] NOT NULL DEFAULT '{}';
ALTER TABLE billing_readiness.charges ADD COLUMN standard_rate numeric(20, 4);

-- Published FX rates (immutable: a rate id is kept as first loaded): an invoice in a currency
-- other than its seller's functional currency carries the rate at its invoice date.
CREATE TABLE billing_readiness.fx_rates (
    rate_id        text PRIMARY KEY,
    base           text NOT NULL,
    quote          text NOT NULL,
    effective_date date NOT NULL,
    rate           jsonb NOT NULL
);
CREATE INDEX fx_rates_by_pair ON billing_readiness.fx_rates (base, quote, effective_date);
