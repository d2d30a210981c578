DELETE FROM raw.rejected_interactions WHERE partition_date < $cutoff;
