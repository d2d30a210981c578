-- The trailing window ends on the newest day with shown slots (not the clock: a re-run gives the same fit).
SELECT max(execution_date) AS window_end
FROM staging.result_slots
WHERE shown;
