-- An interaction_id this partition shares with other days (a record the server re-sent with a later timestamp):
-- the copy with the newest `timestamp` is kept (copies in two days never share one), each other copy is listed
-- here with the day it leaves and the copy kept. Inside the day's transaction, only when the uniqueness audit
-- found such an id.
CREATE OR REPLACE TEMPORARY TABLE copies_across_days AS
WITH copies AS (
    SELECT interaction_id, partition_date, "timestamp" AS stamped_at,
        CAST(coalesce(occurred_at, "timestamp") AT TIME ZONE 'UTC' AS DATE) AS event_date
    FROM raw.interactions
    WHERE interaction_id IN (SELECT interaction_id FROM raw.interactions WHERE partition_date = $partition_date)
),
ranked AS (
    SELECT
        *,
        first_value(partition_date) OVER newest_first AS kept_day,
        first_value(stamped_at) OVER newest_first AS kept_at,
        row_number() OVER newest_first AS copy_rank
    FROM copies
    WINDOW newest_first AS (PARTITION BY interaction_id ORDER BY stamped_at DESC, partition_date DESC)
)
SELECT interaction_id, partition_date AS losing_day, stamped_at AS losing_at, event_date, kept_day, kept_at
FROM ranked
WHERE copy_rank > 1;
