-- staffing-sync: the PSA's rate cards become RateCardPublished.

-- Each PSA rate card read: the newest PSA version handled, the subject version of the last
-- RateCardPublished about it (0: none) and the card as published then (null: never).
CREATE TABLE staffing_sync.psa_rate_cards (
    rate_card_id text PRIMARY KEY,
    instance     text        NOT NULL,
    external_id  text        NOT NULL,
    psa_version  bigint      NOT NULL,
    version      bigint      NOT NULL DEFAULT 0,
    announced    jsonb,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (instance, external_id)
);

-- Which customer each CRM account is (AccountUpserted), at its newest version: a PSA rate card
-- names the account it is scoped to by the CRM's id.
CREATE TABLE staffing_sync.crm_accounts (
    external_id     text        NOT NULL,
    instance        text        NOT NULL,
    customer_id     text        NOT NULL,
    legal_entity_id text        NOT NULL,
    version         bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (external_id, instance)
);
