-- Operators may discard a parked message as well as replay it; both are audited.

-- A discarded message stays for the record but is never replayed or released.
ALTER TABLE messaging.parked DROP CONSTRAINT parked_status_check;
ALTER TABLE messaging.parked ADD CONSTRAINT parked_status_check
    CHECK (status IN ('parked', 'replayed', 'released', 'discarded'));

-- Keyset paging of a listing: WHERE status = $1 AND (parked_at, id) > ($2, $3) ORDER BY both.
CREATE INDEX parked_listing ON messaging.parked (status, parked_at, id);

-- The audit records every operator action; rows written before this migration were replays.
ALTER TABLE messaging.replay_audit
    ADD COLUMN action text NOT NULL DEFAULT 'replay' CHECK (action IN ('replay', 'discard'));
