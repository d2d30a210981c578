SELECT absorbed_loads_until FROM staging.refresh_state;
