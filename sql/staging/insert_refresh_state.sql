INSERT INTO staging.refresh_state VALUES ($absorbed_until::TIMESTAMPTZ, $refreshed_at::TIMESTAMPTZ);
