-- The newest staging refresh the marts have absorbed.
CREATE TABLE IF NOT EXISTS marts.refresh_state (
    absorbed_until TIMESTAMPTZ NOT NULL,
    refreshed_at TIMESTAMPTZ NOT NULL
);
