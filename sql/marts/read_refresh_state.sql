SELECT absorbed_refreshes_until FROM marts.refresh_state;
