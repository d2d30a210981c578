-- The raw loads the staging layer has absorbed, by the key their rows of raw.changed_event_dates share. A
-- watermark on loaded_at would lose a load that began before another but committed after a refresh (parallel
-- loads on a lake): what is pending is what is logged and not yet absorbed, whatever the order of commits.
CREATE TABLE IF NOT EXISTS staging.absorbed_loads (
    run_id VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    absorbed_at TIMESTAMPTZ NOT NULL
);
