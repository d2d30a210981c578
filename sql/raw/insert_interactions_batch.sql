-- `interactions_batch` is a DataFrame registered by the loader; the partition columns are parameters.
INSERT INTO raw.interactions BY NAME
SELECT
    *,
    $partition_date::DATE AS partition_date,
    $loaded_at::TIMESTAMPTZ AS loaded_at,
    $run_id AS run_id
FROM interactions_batch;
