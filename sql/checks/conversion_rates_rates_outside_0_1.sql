SELECT count(*) AS bad_rows
FROM marts.conversion_rates
WHERE NOT coalesce(conversion_rate_per_search BETWEEN 0 AND 1, true)
   OR NOT coalesce(conversion_rate_per_click BETWEEN 0 AND 1, true)
   OR NOT coalesce(conversion_rate_per_impression BETWEEN 0 AND 1, true);
