COMMENT ON TABLE raw.rejected_interactions IS 'Records the API returned that failed validation: quarantined with the reason, never lost.';
COMMENT ON COLUMN raw.rejected_interactions.partition_date IS 'The daily partition whose load received the record.';
COMMENT ON COLUMN raw.rejected_interactions.interaction_id IS 'The record''s interaction_id, when it could be read.';
COMMENT ON COLUMN raw.rejected_interactions.reason IS 'Why the record was refused (the validation error).';
COMMENT ON COLUMN raw.rejected_interactions.raw_json IS 'The record exactly as received.';
COMMENT ON COLUMN raw.rejected_interactions.loaded_at IS 'When the load started.';
COMMENT ON COLUMN raw.rejected_interactions.run_id IS 'The Dagster run of the load.';
COMMENT ON COLUMN raw.rejected_interactions.user_id IS 'The record''s user_id as parsed when it was quarantined (the pseudonym where loads pseudonymise; for JSON that does not parse, read from its user_id field alone): what erasure deletes by.';
