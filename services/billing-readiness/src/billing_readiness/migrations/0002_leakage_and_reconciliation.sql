-- billing-readiness: what approved billable time is worth before it is charged (the bill
-- rate frozen on approval x its minutes, in the project's currency), so that time approved and
-- never posted is reported as leakage with its amount; and the lookups of the leakage and
-- reconciliation passes.
ALTER TABLE billing_readiness.pending_time
    ADD COLUMN bill_amount numeric(20, 4),
    ADD COLUMN currency    text;
CREATE INDEX pending_by_approval ON billing_readiness.pending_time (approved_at);

-- Charges by the invoice they are on (reconciliation sums each invoice's charges).
CREATE INDEX charges_by_invoice ON billing_readiness.charges (invoice_id)
    WHERE invoice_id IS NOT NULL;
-- Invoices by the ERP instance and seller that hold them (one reconciliation per company).
CREATE INDEX invoices_by_seller ON billing_readiness.invoices (seller_entity, erp_instance);
