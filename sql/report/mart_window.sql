-- The period of the marts' current position-bias fit: the report the asset writes covers it.
SELECT min(window_start) AS window_start, max(window_end) AS window_end
FROM marts.position_bias;
