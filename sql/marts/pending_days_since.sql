SELECT DISTINCT execution_date
FROM staging.changed_execution_dates
WHERE refreshed_at > $since
ORDER BY execution_date;
