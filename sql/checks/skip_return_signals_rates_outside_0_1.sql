SELECT count(*) AS bad_rows
FROM marts.skip_return_signals
WHERE NOT coalesce(explicit_skip_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(skip_above_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(bounce_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(pogo_sticking_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(short_dwell_rate BETWEEN 0 AND 1, true)
   OR NOT coalesce(long_dwell_rate BETWEEN 0 AND 1, true);
