-- Distinct records a load received for the partition: accepted ids, and quarantined records not among them
-- (by id, or by their JSON where no id could be read). What the server's total counts.
SELECT count(*) AS received
FROM (
    SELECT interaction_id FROM raw.interactions WHERE partition_date = $partition_date
    UNION
    SELECT coalesce(interaction_id, raw_json) FROM raw.rejected_interactions WHERE partition_date = $partition_date
);
