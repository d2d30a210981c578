-- Each copy listed by rank_copies_across_days goes to the quarantine of its own day, with the copy kept named.
INSERT INTO raw.rejected_interactions BY NAME
SELECT
    losing.losing_day AS partition_date,
    losing.interaction_id,
    'a conflicting copy: the same interaction_id landed in ' || CAST(losing.kept_day AS VARCHAR)
    || ' with the newer timestamp ' || strftime(losing.kept_at, '%Y-%m-%dT%H:%M:%S.%fZ')
    || ', which is kept (the rule: newest timestamp)' AS reason,
    CAST(to_json(record) AS VARCHAR) AS raw_json,
    record.user_id,
    $loaded_at::TIMESTAMPTZ AS loaded_at,
    $run_id AS run_id
FROM copies_across_days AS losing
JOIN (
    SELECT * EXCLUDE (partition_date, loaded_at, run_id)
    FROM raw.interactions
    WHERE partition_date IN (SELECT losing_day FROM copies_across_days)
) AS record
    ON record.interaction_id = losing.interaction_id AND record."timestamp" = losing.losing_at;
