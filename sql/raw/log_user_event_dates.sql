-- Erasure: the event days a user's rows belong to, logged as a load would, so that staging and the marts
-- rebuild exactly those days without the user.
INSERT INTO raw.changed_event_dates BY NAME
SELECT DISTINCT
    CAST(coalesce(occurred_at, "timestamp") AT TIME ZONE 'UTC' AS DATE) AS event_date,
    partition_date,
    $run_id AS run_id,
    $loaded_at::TIMESTAMPTZ AS loaded_at
FROM raw.interactions
WHERE user_id = $user_id;
