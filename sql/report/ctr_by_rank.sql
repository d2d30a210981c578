-- Observed CTR by rank over the period: ranks 1-10 one by one, then 11-20 and 21+ pooled.
SELECT
    CASE WHEN rank <= 10 THEN CAST(rank AS VARCHAR) WHEN rank <= 20 THEN '11-20' ELSE '21+' END AS rank_group,
    min(rank) AS first_rank,
    sum(impressions) AS impressions,
    sum(clicks) AS clicks,
    sum(clicks) / nullif(sum(impressions), 0) AS ctr
FROM marts.ctr_by_position
WHERE day BETWEEN $start AND $end
GROUP BY rank_group
ORDER BY first_rank;
