COMMENT ON TABLE marts.refresh_state IS 'Bookkeeping: the newest staging refresh the marts have absorbed.';
COMMENT ON COLUMN marts.refresh_state.absorbed_until IS 'refreshed_at of the newest staging refresh absorbed.';
COMMENT ON COLUMN marts.refresh_state.refreshed_at IS 'When the marts refresh ran.';
