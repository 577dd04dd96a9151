-- staffing-sync slice 4: PSA bookings become assignments. What a booking is confirmed against
-- (active projects, published rate cards) and what was announced of each booking.

-- Each active project as its newest ProjectActivated told it (ids, entity, customer, org
-- units, currency: no names beyond the project's own), and the region its events go to.
CREATE TABLE staffing_sync.projects (
    project_id      text PRIMARY KEY,
    legal_entity_id text        NOT NULL,
    currency        text        NOT NULL,
    region          text        NOT NULL,
    version         bigint      NOT NULL,
    project         jsonb       NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Each published rate card at its newest published version.
CREATE TABLE staffing_sync.rate_cards (
    rate_card_id      text PRIMARY KEY,
    currency          text        NOT NULL,
    published_version bigint      NOT NULL,
    card              jsonb       NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_cards_by_currency ON staffing_sync.rate_cards (currency);

-- Each PSA booking handled: the newest PSA version seen, the subject version of the last
-- event about it, the assignment last announced confirmed (null: never, or cancelled since)
-- with its frozen rate, and its warnings (an intercompany pair not allowed, ...).
CREATE TABLE staffing_sync.bookings (
    assignment_id text PRIMARY KEY,
    instance      text        NOT NULL,
    external_id   text        NOT NULL,
    worker_id     text,
    project_id    text,
    psa_version   bigint      NOT NULL,
    version       bigint      NOT NULL DEFAULT 0,
    announced     jsonb,
    cancelled     boolean     NOT NULL DEFAULT false,
    warnings      text[]      NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (instance, external_id)
);
CREATE INDEX bookings_by_worker ON staffing_sync.bookings (worker_id, assignment_id);
