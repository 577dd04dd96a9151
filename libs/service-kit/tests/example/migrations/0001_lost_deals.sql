-- The example service's own table: each lost deal and the ERP project shell it closed.
CREATE SCHEMA IF NOT EXISTS lost_deals;
CREATE TABLE lost_deals.losses (
    opportunity_id text        PRIMARY KEY,
    erp_project    text,
    reason         text,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE lost_deals.tally (
    counted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    losses     integer     NOT NULL
);
