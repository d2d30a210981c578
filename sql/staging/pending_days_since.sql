-- Event days touched by raw loads newer than the last refresh (all of them on a full refresh).
SELECT DISTINCT event_date
FROM raw.changed_event_dates
WHERE loaded_at > $since
ORDER BY event_date;
