DELETE FROM raw.interactions WHERE partition_date = $partition_date;
