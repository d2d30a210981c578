SELECT absorbed_until FROM staging.refresh_state;
