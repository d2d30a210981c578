-- Rows that share an interaction_id: repeats inside the partition, and rows of other partitions holding an id
-- of this one. The join builds on this partition's ids and scans only the id column of the rest, so memory
-- stays that of one day whatever the history.
SELECT
    (SELECT count(*) - count(DISTINCT interaction_id) FROM raw.interactions WHERE partition_date = $partition_date)
    + (
        SELECT count(*)
        FROM raw.interactions AS other
        WHERE other.partition_date <> $partition_date
          AND other.interaction_id IN (
              SELECT interaction_id FROM raw.interactions WHERE partition_date = $partition_date
          )
    ) AS duplicate_rows;
