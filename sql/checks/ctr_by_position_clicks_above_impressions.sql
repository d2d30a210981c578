SELECT count(*) AS bad_rows FROM marts.ctr_by_position WHERE clicks > impressions;
