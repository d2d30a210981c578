-- Per (query, document) over the period: how often people skipped it for a result below, and came straight
-- back after clicking it (the over-promotion signals).
SELECT
    query_text,
    feature_id,
    count(*) FILTER (WHERE skipped_above) AS skipped_above,
    count(*) FILTER (WHERE returned_to_results) AS returns_to_results
FROM staging.result_slots
WHERE shown AND feature_id IS NOT NULL AND execution_date BETWEEN $start AND $end
GROUP BY ALL;
