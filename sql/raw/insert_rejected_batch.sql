INSERT INTO raw.rejected_interactions BY NAME
SELECT
    $partition_date::DATE AS partition_date,
    interaction_id,
    reason,
    raw_json,
    user_id,
    $loaded_at::TIMESTAMPTZ AS loaded_at,
    $run_id AS run_id
FROM rejected_batch;
