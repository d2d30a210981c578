DELETE FROM marts.refresh_state;
