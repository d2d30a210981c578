-- Distinct records a load received for the partition: its accepted rows (unique after the dedupe), and the
-- quarantined records not among them (by id, or by their JSON where no id could be read). What the server's
-- total counts.
SELECT
    (SELECT count(*) FROM raw.interactions WHERE partition_date = $partition_date)
    + (
        SELECT count(DISTINCT coalesce(rejected.interaction_id, rejected.raw_json))
        FROM raw.rejected_interactions AS rejected
        WHERE rejected.partition_date = $partition_date
          AND NOT EXISTS (
              SELECT 1
              FROM raw.interactions AS accepted
              WHERE accepted.partition_date = $partition_date AND accepted.interaction_id = rejected.interaction_id
          )
    ) AS received;
