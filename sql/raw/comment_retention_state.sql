COMMENT ON TABLE raw.retention_state IS 'Bookkeeping: each retention pass. Raw and staging rows of days before the latest cutoff were dropped; the marts keep those days and refreshes no longer rebuild them.';
COMMENT ON COLUMN raw.retention_state.cutoff IS 'First day still kept in raw and staging.';
COMMENT ON COLUMN raw.retention_state.applied_at IS 'When the pass ran.';
