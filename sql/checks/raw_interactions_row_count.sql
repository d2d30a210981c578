SELECT count(*) FROM raw.interactions;
