COMMENT ON TABLE raw.changed_event_dates IS 'Bookkeeping: the event days each raw load touched; the staging refresh rebuilds these days.';
COMMENT ON COLUMN raw.changed_event_dates.event_date IS 'UTC day of coalesce(occurred_at, timestamp) of a row the load removed or wrote.';
COMMENT ON COLUMN raw.changed_event_dates.partition_date IS 'The partition that was loaded.';
COMMENT ON COLUMN raw.changed_event_dates.run_id IS 'The Dagster run of the load.';
COMMENT ON COLUMN raw.changed_event_dates.loaded_at IS 'When the load started.';
