-- The mart's position-bias rows when they were fitted on exactly this period.
SELECT *
FROM marts.position_bias
WHERE window_start = $start AND window_end = $end;
