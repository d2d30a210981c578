SELECT max(cutoff) AS cutoff FROM raw.retention_state;
