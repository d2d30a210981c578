SELECT
    sum(clicks_rank_1) AS "1", sum(clicks_rank_2) AS "2", sum(clicks_rank_3) AS "3", sum(clicks_rank_4) AS "4",
    sum(clicks_rank_5) AS "5", sum(clicks_rank_6) AS "6", sum(clicks_rank_7) AS "7", sum(clicks_rank_8) AS "8",
    sum(clicks_rank_9) AS "9", sum(clicks_rank_10) AS "10", sum(clicks_rank_11_20) AS "11-20",
    sum(clicks_rank_21_plus) AS "21+"
FROM marts.search_ctr
WHERE day BETWEEN $start AND $end;
