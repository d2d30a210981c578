INSERT INTO staging.changed_execution_dates BY NAME
SELECT unnest($days::DATE[]) AS execution_date, $refreshed_at::TIMESTAMPTZ AS refreshed_at;
