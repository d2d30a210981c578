-- Interaction ids of the partition that appear more than once, in the partition or in any other.
SELECT count(*) AS duplicate_rows
FROM raw.interactions AS this
WHERE this.partition_date = $partition_date
  AND (
      SELECT count(*) FROM raw.interactions AS other WHERE other.interaction_id = this.interaction_id
  ) > 1;
