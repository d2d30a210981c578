INSERT INTO raw.retention_state VALUES ($cutoff, $applied_at);
