INSERT INTO raw.retention_state (cutoff, applied_at) VALUES ($cutoff, $applied_at);
