-- One batch of validated records, written by the loader as JSON lines at $batch_path; DuckDB types each column.
-- Keys a record does not carry load as NULL; types are folded to lower case as the API defines them.
INSERT INTO raw.interactions BY NAME
SELECT
    interaction_id,
    feature_id,
    list_transform(interaction_type, lambda t: lower(t)) AS interaction_type,
    position,
    metadata,
    user_id,
    session_id,
    execution_id,
    retriever_id,
    query_snapshot,
    document_score,
    result_set_size,
    feature_uri,
    occurred_at,
    "timestamp",
    deduplicated,
    warning,
    extra,
    $partition_date::DATE AS partition_date,
    $loaded_at::TIMESTAMPTZ AS loaded_at,
    $run_id AS run_id
FROM read_json(
    $batch_path,
    format = 'newline_delimited',
    columns = {
        interaction_id: 'VARCHAR',
        feature_id: 'VARCHAR',
        interaction_type: 'VARCHAR[]',
        position: 'INTEGER',
        metadata: 'JSON',
        user_id: 'VARCHAR',
        session_id: 'VARCHAR',
        execution_id: 'VARCHAR',
        retriever_id: 'VARCHAR',
        query_snapshot: 'JSON',
        document_score: 'DOUBLE',
        result_set_size: 'INTEGER',
        feature_uri: 'VARCHAR',
        occurred_at: 'TIMESTAMPTZ',
        "timestamp": 'TIMESTAMPTZ',
        deduplicated: 'BOOLEAN',
        warning: 'VARCHAR',
        extra: 'JSON'
    }
);
