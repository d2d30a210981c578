-- The newest raw load the staging layer has absorbed: the next refresh starts after it.
CREATE TABLE IF NOT EXISTS staging.refresh_state (
    absorbed_until TIMESTAMPTZ NOT NULL,
    refreshed_at TIMESTAMPTZ NOT NULL
);
