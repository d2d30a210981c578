SELECT
    day,
    sum(searches) AS searches,
    sum(searches_with_click) / nullif(sum(tracked_searches), 0) AS search_ctr,
    sum(click_rank_sum) / nullif(sum(clicks), 0) AS average_click_rank
FROM marts.search_ctr
WHERE day BETWEEN $start AND $end
GROUP BY day
ORDER BY day;
