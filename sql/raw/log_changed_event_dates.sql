-- Run twice per load, before the delete and after the insert: the union covers rows removed and rows added.
INSERT INTO raw.changed_event_dates BY NAME
SELECT DISTINCT
    CAST(coalesce(occurred_at, "timestamp") AT TIME ZONE 'UTC' AS DATE) AS event_date,
    partition_date,
    $run_id AS run_id,
    $loaded_at::TIMESTAMPTZ AS loaded_at
FROM raw.interactions
WHERE partition_date = $partition_date;
