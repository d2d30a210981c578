SELECT max(loaded_at) AS newest_load FROM raw.changed_event_dates;
