-- Ingestion reads one PSA's pending rows in landing order: index exactly that, so the read is
-- one ordered index scan (it was a bitmap of every row of the source and every pending entry).
DROP INDEX time_expense.inbound_pending;
CREATE INDEX inbound_pending ON time_expense.inbound (source, sequence) WHERE status = 'pending';
