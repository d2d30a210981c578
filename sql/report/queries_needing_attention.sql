-- Queries with enough searches, worst first by the share of searches that went wrong (no click, no results or
-- a rewrite); $min_searches keeps one-off queries out.
SELECT
    query,
    sum(searches) AS searches,
    sum(no_click_searches) / nullif(sum(tracked_searches), 0) AS no_click_rate,
    sum(zero_result_searches) / nullif(sum(searches), 0) AS zero_results_rate,
    sum(refined_searches) / nullif(sum(searches), 0) AS refinement_rate
FROM marts.query_health
WHERE day BETWEEN $start AND $end AND query IS NOT NULL
GROUP BY query
HAVING sum(searches) >= $min_searches
ORDER BY greatest(
    coalesce(sum(no_click_searches) / nullif(sum(tracked_searches), 0), 0),
    coalesce(sum(zero_result_searches) / nullif(sum(searches), 0), 0),
    coalesce(sum(refined_searches) / nullif(sum(searches), 0), 0)
) DESC, searches DESC
LIMIT $limit;
