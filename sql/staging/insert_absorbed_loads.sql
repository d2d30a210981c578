-- Inside the refresh's transaction: every load logged as this refresh saw the log (a load committing meanwhile
-- is not in its snapshot, so it stays pending for the next refresh).
INSERT INTO staging.absorbed_loads BY NAME
SELECT DISTINCT changed.run_id, changed.partition_date, changed.loaded_at, $refreshed_at::TIMESTAMPTZ AS absorbed_at
FROM raw.changed_event_dates AS changed
WHERE NOT EXISTS (
    SELECT 1
    FROM staging.absorbed_loads AS absorbed
    WHERE absorbed.run_id = changed.run_id
      AND absorbed.partition_date = changed.partition_date
      AND absorbed.loaded_at = changed.loaded_at
);
