SELECT DISTINCT partition_date
FROM raw.interactions
WHERE run_id = $run_id
ORDER BY partition_date;
