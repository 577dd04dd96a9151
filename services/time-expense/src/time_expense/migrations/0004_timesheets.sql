-- Timesheet versions land too: a submitted one becomes TimeSubmitted.
ALTER TABLE time_expense.inbound DROP CONSTRAINT inbound_record_type_check;
ALTER TABLE time_expense.inbound ADD CONSTRAINT inbound_record_type_check
    CHECK (record_type IN ('time_entry', 'expense', 'timesheet'));
