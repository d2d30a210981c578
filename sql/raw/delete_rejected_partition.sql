DELETE FROM raw.rejected_interactions WHERE partition_date = $partition_date;
