-- Landing table: one row per interaction, every API field typed (Mixpeek API 0.82, InteractionResponse).
CREATE TABLE IF NOT EXISTS raw.interactions (
    interaction_id VARCHAR NOT NULL,
    feature_id VARCHAR NOT NULL,
    interaction_type VARCHAR[] NOT NULL,
    position INTEGER NOT NULL,
    metadata JSON,
    user_id VARCHAR,
    session_id VARCHAR,
    execution_id VARCHAR,
    retriever_id VARCHAR,
    query_snapshot JSON,
    document_score DOUBLE,
    result_set_size INTEGER,
    feature_uri VARCHAR,
    occurred_at TIMESTAMPTZ,
    "timestamp" TIMESTAMPTZ NOT NULL,
    deduplicated BOOLEAN,
    warning VARCHAR,
    extra JSON,
    partition_date DATE NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
);
