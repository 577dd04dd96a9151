-- Polling asks for what changed after a time: index it, so a poll reads the recent changes only.
CREATE INDEX records_by_update ON sandbox.records (system, collection, updated_at);
