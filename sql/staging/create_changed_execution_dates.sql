-- Which execution days each staging refresh rebuilt: the marts recompute exactly these days.
CREATE TABLE IF NOT EXISTS staging.changed_execution_dates (
    execution_date DATE NOT NULL,
    refreshed_at TIMESTAMPTZ NOT NULL
);
