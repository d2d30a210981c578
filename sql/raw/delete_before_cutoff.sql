DELETE FROM raw.interactions WHERE partition_date < $cutoff;
