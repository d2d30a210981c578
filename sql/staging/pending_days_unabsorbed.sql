-- Event days touched by raw loads the staging layer has not absorbed yet.
SELECT DISTINCT changed.event_date
FROM raw.changed_event_dates AS changed
WHERE NOT EXISTS (
    SELECT 1
    FROM staging.absorbed_loads AS absorbed
    WHERE absorbed.run_id = changed.run_id
      AND absorbed.partition_date = changed.partition_date
      AND absorbed.loaded_at = changed.loaded_at
)
ORDER BY changed.event_date;
