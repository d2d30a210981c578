-- The recomputed days, and any other row of an execution that a changed day's events belong to (a late event can
-- move an execution's first event, and so its day).
DELETE FROM staging.search_executions
WHERE list_contains($days, execution_date)
   OR execution_id IN (
       SELECT execution_id FROM staging.interaction_events WHERE list_contains($changed_days, event_date)
   );
