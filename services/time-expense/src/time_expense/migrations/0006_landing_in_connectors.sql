-- Landing moved to the connectors' shared table (connectors.inbound, one for every system
-- kind and service): carry over what was landed, in arrival order, then drop the old table.
INSERT INTO connectors.inbound (system, instance, record_type, record_id, version, via, payload,
    received_at, status, detail)
SELECT 'psa', source, record_type, record_id, version, via, payload, received_at, status, detail
FROM time_expense.inbound
ORDER BY sequence
ON CONFLICT (system, instance, record_type, record_id, version) DO NOTHING;

DROP TABLE time_expense.inbound;
