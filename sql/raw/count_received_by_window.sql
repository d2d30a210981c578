-- Distinct records a load received in each window the server gave a total for (the leaves of its paging), to
-- name the windows whose count disagrees: accepted rows by their timestamp, quarantined records not among them
-- by the timestamp their JSON holds (records without one are in no window).
WITH windows AS (
    SELECT
        unnest($starts::TIMESTAMPTZ[]) AS window_start,
        unnest($ends::TIMESTAMPTZ[]) AS window_end,
        unnest($totals::BIGINT[]) AS server_total
),
received AS (
    SELECT interaction_id AS record_key, "timestamp" AS stamped_at
    FROM raw.interactions
    WHERE partition_date = $partition_date
    UNION ALL
    SELECT DISTINCT
        coalesce(rejected.interaction_id, rejected.raw_json) AS record_key,
        try_cast(json_extract_string(rejected.raw_json, '$.timestamp') AS TIMESTAMPTZ) AS stamped_at
    FROM raw.rejected_interactions AS rejected
    WHERE rejected.partition_date = $partition_date
      AND NOT EXISTS (
          SELECT 1
          FROM raw.interactions AS accepted
          WHERE accepted.partition_date = $partition_date AND accepted.interaction_id = rejected.interaction_id
      )
)
SELECT
    windows.window_start,
    windows.window_end,
    count(DISTINCT received.record_key) AS received,
    windows.server_total
FROM windows
LEFT JOIN received
    ON received.stamped_at >= windows.window_start AND received.stamped_at < windows.window_end
GROUP BY ALL
ORDER BY windows.window_start;
