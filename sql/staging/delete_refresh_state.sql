DELETE FROM staging.refresh_state;
