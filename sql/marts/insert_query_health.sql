-- Per day and query (trimmed and lower-cased, so "Red Shoes " and "red shoes" are one query): no-click rate over
-- tracked searches, zero-results and refinement rates over all searches (docs/metrics.md#search-level-rates). A
-- rate over zero is NULL.
INSERT INTO marts.query_health BY NAME
WITH counts AS (
    SELECT
        execution_date AS day,
        lower(trim(query_text)) AS query,
        count(*) AS searches,
        count(*) FILTER (WHERE tracked) AS tracked_searches,
        count(*) FILTER (WHERE tracked AND clicks = 0) AS no_click_searches,
        count(*) FILTER (WHERE zero_results) AS zero_result_searches,
        count(*) FILTER (WHERE refined) AS refined_searches
    FROM staging.search_executions
    WHERE list_contains($days, execution_date)
    GROUP BY ALL
)
SELECT
    day,
    query,
    searches,
    tracked_searches,
    no_click_searches,
    no_click_searches / nullif(tracked_searches, 0) AS no_click_rate,
    zero_result_searches,
    zero_result_searches / nullif(searches, 0) AS zero_results_rate,
    refined_searches,
    refined_searches / nullif(searches, 0) AS refinement_rate
FROM counts;
