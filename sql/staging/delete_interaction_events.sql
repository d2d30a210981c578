DELETE FROM staging.interaction_events WHERE list_contains($days, event_date);
