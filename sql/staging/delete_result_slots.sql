DELETE FROM staging.result_slots
WHERE list_contains($days, execution_date)
   OR execution_id IN (
       SELECT execution_id FROM staging.interaction_events WHERE list_contains($changed_days, event_date)
   );
