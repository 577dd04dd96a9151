-- What ranking reads, as columns: a request is ranked against every worker on the bench, and
-- reading thousands of JSON documents per request (the worker's, each booking's) costs more
-- than ranking them. Written beside the documents by the same statements; filled here for the
-- rows kept before.

ALTER TABLE staffing_sync.workers
    ADD COLUMN hire_date    date,
    ADD COLUMN work_country text;
UPDATE staffing_sync.workers
SET hire_date = (worker->>'hire_date')::date, work_country = worker->>'work_country';
ALTER TABLE staffing_sync.workers
    ALTER COLUMN hire_date SET NOT NULL,
    ALTER COLUMN work_country SET NOT NULL;

-- The assignment last announced, when there is one (all null otherwise).
ALTER TABLE staffing_sync.bookings
    ADD COLUMN status          text,
    ADD COLUMN start_date      date,
    ADD COLUMN end_date        date,
    ADD COLUMN booking_type    text,
    ADD COLUMN minutes_per_day integer,
    ADD COLUMN total_minutes   integer,
    ADD COLUMN billable        boolean;
UPDATE staffing_sync.bookings
SET status = announced->>'status',
    start_date = (announced->>'start_date')::date,
    end_date = (announced->>'end_date')::date,
    booking_type = announced->>'booking_type',
    minutes_per_day = (announced->>'minutes_per_day')::integer,
    total_minutes = (announced->>'total_minutes')::integer,
    billable = (announced->>'billable')::boolean
WHERE announced IS NOT NULL;
CREATE INDEX bookings_live_by_end ON staffing_sync.bookings (end_date, start_date)
    WHERE worker_id IS NOT NULL AND announced IS NOT NULL;
