-- Every landed row of the partition whose interaction_id is on more than one row, ranked: the copy kept is the
-- one with the newest `timestamp`, then the larger content hash (MD5 of the record's API fields as JSON), then
-- the first landed. Copies with equal content are one record received twice (a page repeated, or a record the
-- server holds twice); copies whose content differs are conflicting records under one id.
CREATE OR REPLACE TEMPORARY TABLE partition_copies AS
WITH repeated AS (
    SELECT rowid AS row_id, *
    FROM raw.interactions
    WHERE partition_date = $partition_date
    QUALIFY count(*) OVER (PARTITION BY interaction_id) > 1
),
described AS (
    SELECT
        row_id,
        interaction_id,
        "timestamp" AS stamped_at,
        CAST(
            to_json({
                interaction_id: interaction_id,
                feature_id: feature_id,
                interaction_type: interaction_type,
                position: position,
                metadata: metadata,
                user_id: user_id,
                session_id: session_id,
                execution_id: execution_id,
                retriever_id: retriever_id,
                query_snapshot: query_snapshot,
                document_score: document_score,
                result_set_size: result_set_size,
                feature_uri: feature_uri,
                occurred_at: occurred_at,
                "timestamp": "timestamp",
                deduplicated: deduplicated,
                warning: warning,
                extra: extra
            }) AS VARCHAR
        ) AS record_json
    FROM repeated
)
SELECT
    row_id,
    interaction_id,
    stamped_at,
    record_json,
    md5(record_json) AS content_hash,
    row_number() OVER (
        PARTITION BY interaction_id ORDER BY stamped_at DESC, md5(record_json) DESC, row_id
    ) AS copy_rank
FROM described;
