SELECT max(refreshed_at) AS newest FROM staging.changed_execution_dates;
