-- Quarantine: records that failed validation, with the reason and the raw JSON as received.
CREATE TABLE IF NOT EXISTS raw.rejected_interactions (
    partition_date DATE NOT NULL,
    interaction_id VARCHAR,
    reason VARCHAR NOT NULL,
    raw_json VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    user_id VARCHAR
);
