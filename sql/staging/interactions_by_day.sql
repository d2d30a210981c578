-- Interactions per recorded day among the days a refresh rebuilds, to cut it into batches that fit the memory
-- limit (pipelines/batches.py): the recorded day stands for the event day, which differs for about 1% (late records).
SELECT partition_date AS day, count(*) AS interactions
FROM raw.interactions
WHERE partition_date BETWEEN list_min($days) AND list_max($days)
GROUP BY ALL;
