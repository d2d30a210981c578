SELECT count(DISTINCT (segment_type, segment)) AS segments
FROM marts.position_bias
WHERE fitted_pairs > 0 AND NOT em_converged;
