COMMENT ON TABLE staging.refresh_state IS 'Bookkeeping: the newest raw load the staging layer has absorbed.';
COMMENT ON COLUMN staging.refresh_state.absorbed_until IS 'loaded_at of the newest raw load absorbed.';
COMMENT ON COLUMN staging.refresh_state.refreshed_at IS 'When the refresh ran.';
COMMENT ON TABLE staging.changed_execution_dates IS 'Bookkeeping: the search days each staging refresh rebuilt; the marts rebuild these days.';
COMMENT ON COLUMN staging.changed_execution_dates.execution_date IS 'A rebuilt search day.';
COMMENT ON COLUMN staging.changed_execution_dates.refreshed_at IS 'When the refresh ran.';
