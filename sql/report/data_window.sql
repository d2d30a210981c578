SELECT min(day) AS first_day, max(day) AS last_day FROM marts.search_ctr;
