-- Partitioned consumption: the members of a consumer group, who holds which partition's lease,
-- and the history of every lease (ADR 0008). Every lease decision uses clock_timestamp().

-- A member heartbeats here; it is live while its heartbeat is younger than the lease TTL.
CREATE TABLE messaging.consumer_members (
    grp          text        NOT NULL,
    member       text        NOT NULL,
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (grp, member)
);

-- One row per partition of a group; owner NULL when free. The epoch grows with every
-- acquisition, so a holder's (partition, epoch) names its tenure.
CREATE TABLE messaging.partition_leases (
    grp        text        NOT NULL,
    partition  integer     NOT NULL CHECK (partition >= 0),
    owner      text,
    epoch      bigint      NOT NULL DEFAULT 0,
    expires_at timestamptz,
    PRIMARY KEY (grp, partition)
);

-- Every tenure: acquired, then released (drained and handed back), expired (taken over after
-- its holder stopped renewing) or lost (its holder, still alive, found it taken over).
CREATE TABLE messaging.partition_log (
    grp         text        NOT NULL,
    partition   integer     NOT NULL,
    owner       text        NOT NULL,
    epoch       bigint      NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    released_at timestamptz,
    how         text        CHECK (how IN ('released', 'expired', 'lost')),
    PRIMARY KEY (grp, partition, epoch)
);

-- Which tenure handled each event: the proof that a partition's effects were committed under
-- one owner at a time, in epoch order. NULL for rows written before partitions existed.
ALTER TABLE messaging.inbox ADD COLUMN partition integer, ADD COLUMN epoch bigint;
