INSERT INTO marts.refresh_state VALUES ($absorbed_refreshes_until::TIMESTAMPTZ, $refreshed_at::TIMESTAMPTZ);
