SELECT
    (SELECT count(*) FROM marts.ctr_by_position) AS ctr_by_position,
    (SELECT count(*) FROM marts.search_ctr) AS search_ctr;
