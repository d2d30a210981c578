SELECT count(*) AS negative_positions
FROM raw.interactions
WHERE partition_date = $partition_date AND position < 0;
