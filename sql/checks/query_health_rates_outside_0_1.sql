SELECT count(*) AS bad_rows
FROM marts.query_health
WHERE NOT coalesce(no_click_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(zero_results_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(refinement_rate BETWEEN 0 AND 1, true);
