INSERT INTO staging.refresh_state VALUES ($absorbed_loads_until::TIMESTAMPTZ, $refreshed_at::TIMESTAMPTZ);
