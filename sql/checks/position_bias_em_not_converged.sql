SELECT
    count(*) AS segments,
    coalesce(list(segment_type || ':' || segment ORDER BY segment_type != 'all', segment_type, segment), [])
        AS names
FROM (
    SELECT DISTINCT segment_type, segment
    FROM marts.position_bias
    WHERE fitted_pairs > 0 AND NOT em_converged
);
