-- Retention: raw and staging rows before `cutoff` are gone; the marts keep those days, and refreshes leave them.
CREATE TABLE IF NOT EXISTS raw.retention_state (
    cutoff DATE NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);
