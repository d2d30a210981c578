SELECT DISTINCT CAST(coalesce(occurred_at, "timestamp") AT TIME ZONE 'UTC' AS DATE) AS event_date
FROM raw.interactions
ORDER BY event_date;
