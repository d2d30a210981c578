INSERT INTO marts.refresh_state (absorbed_until, refreshed_at) VALUES ($absorbed_until::TIMESTAMPTZ, $refreshed_at::TIMESTAMPTZ);
