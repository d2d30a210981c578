-- The day's quarantined records, from the load's staging file, inside the day's transaction.
INSERT INTO raw.rejected_interactions BY NAME
SELECT * FROM staged.raw.rejected_interactions WHERE partition_date = $partition_date;
