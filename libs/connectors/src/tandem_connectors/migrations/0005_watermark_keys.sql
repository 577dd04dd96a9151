-- A source's record key may hold text PostgreSQL cannot store (a NUL); such a key is kept as
-- its JSON string (lossless) with key_is_json set, so the feed moves past it exactly.
ALTER TABLE connectors.watermarks ADD COLUMN key_is_json boolean NOT NULL DEFAULT false;
