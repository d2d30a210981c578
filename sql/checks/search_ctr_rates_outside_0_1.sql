SELECT count(*) AS bad_rows
FROM marts.search_ctr
WHERE NOT coalesce(search_ctr BETWEEN 0 AND 1, true)
   OR NOT coalesce(no_click_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(zero_results_rate BETWEEN 0 AND 1, true);
