INSERT INTO marts.refresh_state VALUES ($absorbed_until::TIMESTAMPTZ, $refreshed_at::TIMESTAMPTZ);
