-- A record that could not be stored as it came (too large, a NUL or lone surrogate, an integer
-- beyond 64 bits, an unusable id or version) is kept set aside without its payload ('null'),
-- with why: an operator sees it, and it is never replayed (there is nothing to replay).
ALTER TABLE connectors.inbound ADD COLUMN refused boolean NOT NULL DEFAULT false;

-- Set-aside records made pending again by an operator: who, why, which, when.
CREATE TABLE connectors.inbound_replay_audit (
    id            bigserial   PRIMARY KEY,
    system        text        NOT NULL,
    instance      text        NOT NULL,
    -- The authenticated caller (an API principal's subject), or for the CLI, which connects to
    -- the database directly, 'cli:unauthenticated:<os user>@<host>'.
    actor         text        NOT NULL,
    -- The name a CLI user gave with --actor: recorded, never verified.
    claimed_actor text,
    reason        text        NOT NULL,
    requested     bigint[],   -- the sequences asked for; NULL: every set-aside row of the source
    replayed      bigint[]    NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
