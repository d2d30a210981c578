-- The event days of the copies leaving other days, logged as a load of those days would log them, so that
-- staging and the marts rebuild them without the copy.
INSERT INTO raw.changed_event_dates BY NAME
SELECT DISTINCT
    event_date,
    losing_day AS partition_date,
    $run_id AS run_id,
    $loaded_at::TIMESTAMPTZ AS loaded_at
FROM copies_across_days;
