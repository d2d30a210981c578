-- marts.skip_return_signals by ISO week and by calendar month: counts summed first, rates divided after, NULL
-- over a zero denominator, never NaN.
CREATE OR REPLACE VIEW marts.skip_return_signals_by_period AS
WITH days AS (  -- each daily row twice: in its ISO week and in its month
    SELECT periods.period, date_trunc(periods.period, daily.day)::DATE AS period_start, daily.*
    FROM marts.skip_return_signals AS daily
    CROSS JOIN (VALUES ('week'), ('month')) AS periods (period)
)
SELECT
    period,
    period_start,
    (period_start + ('1 ' || period)::INTERVAL - INTERVAL 1 DAY)::DATE AS period_end,
    retriever_id,
    position,
    rank,
    count(DISTINCT day) AS days_with_data,
    sum(impressions) AS impressions,
    sum(explicit_skips) AS explicit_skips,
    sum(explicit_skips) / nullif(sum(impressions), 0) AS explicit_skip_rate,
    sum(impressions_above_a_click) AS impressions_above_a_click,
    sum(skipped_above) AS skipped_above,
    sum(skipped_above) / nullif(sum(impressions_above_a_click), 0) AS skip_above_rate,
    sum(clicks) AS clicks,
    sum(returns_to_results) AS returns_to_results,
    sum(returns_to_results) / nullif(sum(clicks), 0) AS bounce_rate,
    sum(pogo_sticks) AS pogo_sticks,
    sum(pogo_sticks) / nullif(sum(clicks), 0) AS pogo_sticking_rate,
    sum(short_dwell_clicks) AS short_dwell_clicks,
    sum(short_dwell_clicks) / nullif(sum(clicks), 0) AS short_dwell_rate,
    sum(long_dwell_clicks) AS long_dwell_clicks,
    sum(long_dwell_clicks) / nullif(sum(clicks), 0) AS long_dwell_rate
FROM days
GROUP BY period, period_start, retriever_id, position, rank;
