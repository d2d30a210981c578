SELECT max(partition_date) FROM raw.interactions;
