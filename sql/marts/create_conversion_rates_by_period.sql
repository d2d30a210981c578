-- marts.conversion_rates by ISO week and by calendar month, per grain: counts summed first, rates divided after,
-- NULL over a zero denominator, never NaN. Revenue stays in the daily mart (a JSON map per currency).
CREATE OR REPLACE VIEW marts.conversion_rates_by_period AS
WITH days AS (  -- each daily row twice: in its ISO week and in its month
    SELECT periods.period, date_trunc(periods.period, daily.day)::DATE AS period_start, daily.*
    FROM marts.conversion_rates AS daily
    CROSS JOIN (VALUES ('week'), ('month')) AS periods (period)
)
SELECT
    period,
    period_start,
    (period_start + ('1 ' || period)::INTERVAL - INTERVAL 1 DAY)::DATE AS period_end,
    grain,
    retriever_id,
    position,
    rank,
    query,
    count(DISTINCT day) AS days_with_data,
    sum(searches) AS searches,
    sum(tracked_searches) AS tracked_searches,
    sum(converted_searches) AS converted_searches,
    sum(impressions) AS impressions,
    sum(clicks) AS clicks,
    sum(add_to_cart) AS add_to_cart,
    sum(purchases) AS purchases,
    sum(conversions) AS conversions,
    sum(converted_searches) / nullif(sum(tracked_searches), 0) AS conversion_rate_per_search,
    sum(conversions) / nullif(sum(clicks), 0) AS conversion_rate_per_click,
    sum(conversions) / nullif(sum(impressions), 0) AS conversion_rate_per_impression
FROM days
GROUP BY period, period_start, grain, retriever_id, position, rank, query;
