-- Inbox retention: purge_inbox deletes rows handled before a cutoff, oldest first, in small
-- batches; this index finds them without scanning the table.
--
-- Not CONCURRENTLY: the migration runner applies each file in a transaction, where PostgreSQL
-- refuses CREATE INDEX CONCURRENTLY. The build holds a SHARE lock on messaging.inbox: reads go
-- on, but every claim (every handled message) waits until the index is built. On a big inbox,
-- build it by hand first with CREATE INDEX CONCURRENTLY under this name (see the messaging
-- README's upgrade notes): IF NOT EXISTS then makes this file a no-op.
CREATE INDEX IF NOT EXISTS inbox_handled_at ON messaging.inbox (handled_at);
