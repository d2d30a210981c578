-- Interaction events per day among the days the marts rebuild, to cut the refresh into batches that fit the
-- memory limit (pipelines/batches.py).
SELECT event_date AS day, count(*) AS interactions
FROM staging.interaction_events
WHERE list_contains($days, event_date)
GROUP BY ALL;
