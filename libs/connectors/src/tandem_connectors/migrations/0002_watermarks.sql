-- Where each polled change feed was read up to: saved with the effects of what was read.
CREATE TABLE connectors.watermarks (
    system      text        NOT NULL,
    instance    text        NOT NULL,
    feed        text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    record_key  text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (system, instance, feed)
);
