-- Examination may exceed 1 (a rank can draw more attention than rank 1); it must be non-negative, and a
-- percentile interval need not contain its point estimate, so only the bounds' order is checked.
SELECT count(*) AS bad_rows
FROM marts.position_bias
WHERE NOT coalesce(ctr BETWEEN 0 AND 1, true)
   OR NOT (coverage BETWEEN 0 AND 1)
   OR NOT coalesce(position_coverage BETWEEN 0 AND 1, true)
   OR examination < 0
   OR examination_ci_low > examination_ci_high;
