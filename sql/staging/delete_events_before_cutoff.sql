DELETE FROM staging.interaction_events WHERE event_date < $cutoff;
