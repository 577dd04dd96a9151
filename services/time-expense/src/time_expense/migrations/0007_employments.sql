-- A worker's employments: one per legal entity it joined (from its first day there) and ERP
-- instance, with the ERP employee it is there. Time posts to the employee of the employment
-- its work date falls in, so time dated before a transfer keeps posting to the old employee.
CREATE TABLE time_expense.employments (
    worker_id       text NOT NULL,
    erp_instance    text NOT NULL,
    starts_on       date NOT NULL,
    legal_entity_id text NOT NULL,
    employee_id     text NOT NULL,
    PRIMARY KEY (worker_id, erp_instance, starts_on)
);

-- A worker's last day, as HR last said it: time dated after it is refused (worker_terminated).
CREATE TABLE time_expense.last_days (
    worker_id text PRIMARY KEY,
    last_day  date NOT NULL
);
