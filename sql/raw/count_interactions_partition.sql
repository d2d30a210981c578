SELECT count(*) AS row_count FROM raw.interactions WHERE partition_date = $partition_date;
