-- The trailing window ends on the newest day with shown slots (not the clock: a re-run gives the same fit) and
-- starts $window_days - 1 days before it, or on the first day with shown slots when history is shorter.
SELECT
    greatest(max(execution_date) - ($window_days - 1), min(execution_date)) AS window_start,
    max(execution_date) AS window_end
FROM staging.result_slots
WHERE shown;
