SELECT count(*) AS bad_rows
FROM marts.ctr_by_position
WHERE NOT (ctr BETWEEN 0 AND 1) OR NOT (ctr_ci_low BETWEEN 0 AND ctr) OR NOT (ctr_ci_high BETWEEN ctr AND 1);
