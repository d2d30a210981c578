-- Which event days (occurred_at, else timestamp; UTC) each raw load touched, before and after it replaced its
-- partition: the staging layer recomputes exactly these days (late and backfilled events included).
CREATE TABLE IF NOT EXISTS raw.changed_event_dates (
    event_date DATE NOT NULL,
    partition_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
