-- A warehouse refreshed before staging.absorbed_loads existed kept only a watermark: the loads up to it count
-- as absorbed, once (the table is empty only then).
INSERT INTO staging.absorbed_loads BY NAME
SELECT DISTINCT changed.run_id, changed.partition_date, changed.loaded_at, state.refreshed_at AS absorbed_at
FROM raw.changed_event_dates AS changed, staging.refresh_state AS state
WHERE changed.loaded_at <= state.absorbed_until
  AND NOT EXISTS (SELECT 1 FROM staging.absorbed_loads);
