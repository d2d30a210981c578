SELECT absorbed_until FROM marts.refresh_state;
