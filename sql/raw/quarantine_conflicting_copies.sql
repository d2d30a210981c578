-- Copies of an interaction_id whose content differs from the copy kept (rank_copies_partition's rule: newest
-- `timestamp`, then the larger content hash) go to the quarantine, one row per distinct content, with the reason
-- naming the copy kept; the day lands with the kept one.
INSERT INTO raw.rejected_interactions BY NAME
SELECT DISTINCT ON (losing.interaction_id, losing.content_hash)
    $partition_date::DATE AS partition_date,
    losing.interaction_id,
    'a conflicting copy: another record with this interaction_id and different content was kept (timestamp '
    || strftime(kept.stamped_at, '%Y-%m-%dT%H:%M:%S.%fZ') || ', content hash ' || kept.content_hash
    || '), by the rule newest timestamp, then larger content hash' AS reason,
    losing.record_json AS raw_json,
    json_extract_string(losing.record_json, '$.user_id') AS user_id,
    $loaded_at::TIMESTAMPTZ AS loaded_at,
    $run_id AS run_id
FROM partition_copies AS losing
JOIN partition_copies AS kept
    ON kept.interaction_id = losing.interaction_id AND kept.copy_rank = 1
WHERE losing.copy_rank > 1 AND losing.content_hash <> kept.content_hash
ORDER BY losing.interaction_id, losing.content_hash, losing.copy_rank;
