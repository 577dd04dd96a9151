-- Changing a consumer group's partition count (ADR 0009): the group's partition count and where
-- `tandem partitions resize` stands. Members follow `partitions`; while `phase` is not
-- 'running' they take no new partition (holding, draining) or none at all (catching_up).

CREATE TABLE messaging.partition_groups (
    grp        text        PRIMARY KEY,
    partitions integer     NOT NULL CHECK (partitions BETWEEN 1 AND 256),
    phase      text        NOT NULL DEFAULT 'running'
                           CHECK (phase IN ('running', 'holding', 'draining', 'catching_up')),
    target     integer     CHECK (target BETWEEN 1 AND 256),
    -- Set once the group's patterns are back on Q.hash: Q.resize receives nothing more, so
    -- the member catching up may finish when it is empty.
    sealed     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Groups that exist already have as many partitions as lease rows.
INSERT INTO messaging.partition_groups (grp, partitions)
SELECT grp, max(partition) + 1 FROM messaging.partition_leases GROUP BY grp;

-- Partition -1 is the catch-up lease: its holder alone consumes Q.resize, fenced like any
-- partition, and the inbox records (-1, epoch) for what it handled.
ALTER TABLE messaging.partition_leases
    DROP CONSTRAINT partition_leases_partition_check,
    ADD CONSTRAINT partition_leases_partition_check CHECK (partition >= -1);
