-- Interaction ids the load received more than once for the partition, as landed rows or quarantined records,
-- with how many copies and their timestamps (the quarantined copy's as its JSON holds it): what the completeness
-- audit asks the server about, to tell a record it holds twice from a page repeated (pipelines/landing.py).
-- Runs after rank_copies_partition, before the dedupe.
WITH quarantined AS (
    SELECT
        interaction_id,
        CASE
            WHEN json_valid(raw_json) THEN try_cast(json_extract_string(raw_json, '$.timestamp') AS TIMESTAMPTZ)
        END AS stamped_at  -- NULL for a record whose JSON cannot be read (a lone surrogate, cut short)
    FROM raw.rejected_interactions
    WHERE partition_date = $partition_date AND interaction_id IS NOT NULL
),
received AS (
    SELECT interaction_id, stamped_at
    FROM partition_copies
    UNION ALL
    SELECT interaction_id, "timestamp" AS stamped_at
    FROM raw.interactions
    WHERE partition_date = $partition_date
      AND interaction_id IN (SELECT interaction_id FROM quarantined)
      AND interaction_id NOT IN (SELECT interaction_id FROM partition_copies)
    UNION ALL
    SELECT interaction_id, stamped_at
    FROM quarantined
)
SELECT
    interaction_id,
    count(*) AS copies,
    list(DISTINCT stamped_at ORDER BY stamped_at) FILTER (WHERE stamped_at IS NOT NULL) AS stamps,
    count(*) FILTER (WHERE stamped_at IS NULL) AS copies_without_timestamp
FROM received
GROUP BY interaction_id
HAVING count(*) > 1
ORDER BY interaction_id;
