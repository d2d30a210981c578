-- One row per interaction_id: every copy but the one kept (rank_copies_partition) leaves the partition. Equal
-- copies are one record received twice; conflicting ones were quarantined just before.
DELETE FROM raw.interactions
WHERE partition_date = $partition_date
  AND rowid IN (SELECT row_id FROM partition_copies WHERE copy_rank > 1);
