-- One row per interaction and type. Event time is occurred_at when present (backfills), else timestamp; days
-- are UTC (docs/metrics.md#units). A record's event time is never after its timestamp (the API clamps occurred_at),
-- so only partitions from the first changed day on can hold a changed day's events.
INSERT INTO staging.interaction_events BY NAME
SELECT
    interaction_id,
    unnest(list_distinct(interaction_type)) AS interaction_type,
    coalesce(occurred_at, "timestamp") AS event_at,
    CAST(coalesce(occurred_at, "timestamp") AT TIME ZONE 'UTC' AS DATE) AS event_date,
    "timestamp" AS recorded_at,
    occurred_at IS NOT NULL AS is_backfilled,
    execution_id,
    session_id,
    user_id,
    retriever_id,
    feature_id,
    position,
    position + 1 AS rank,
    metadata ->> 'device' AS device,
    query_snapshot ->> 'text' AS query_text,
    TRY_CAST(metadata ->> 'duration_ms' AS BIGINT) AS duration_ms,
    TRY_CAST(metadata ->> 'order_value' AS DOUBLE) AS order_value,
    upper(metadata ->> 'currency') AS currency,
    document_score,
    result_set_size
FROM raw.interactions
WHERE partition_date >= list_min($days)
  AND list_contains($days, CAST(coalesce(occurred_at, "timestamp") AT TIME ZONE 'UTC' AS DATE));
