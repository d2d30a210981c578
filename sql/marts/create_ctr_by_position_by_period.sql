-- marts.ctr_by_position by ISO week and by calendar month: impressions and clicks summed first, the CTR and its
-- Wilson 95% interval computed from the sums (the same formula as the daily mart), so no rate is NaN.
CREATE OR REPLACE VIEW marts.ctr_by_position_by_period AS
WITH days AS (  -- each daily row twice: in its ISO week and in its month
    SELECT periods.period, date_trunc(periods.period, daily.day)::DATE AS period_start, daily.*
    FROM marts.ctr_by_position AS daily
    CROSS JOIN (VALUES ('week'), ('month')) AS periods (period)
),
sums AS (
    SELECT
        period,
        period_start,
        retriever_id,
        device,
        position,
        rank,
        count(DISTINCT day) AS days_with_data,
        sum(impressions) AS impressions,
        sum(clicks) AS clicks,
        sum(clicks) / nullif(sum(impressions), 0) AS p,
        nullif(sum(impressions), 0) AS n
    FROM days
    GROUP BY period, period_start, retriever_id, device, position, rank
)
SELECT
    period,
    period_start,
    (period_start + ('1 ' || period)::INTERVAL - INTERVAL 1 DAY)::DATE AS period_end,
    retriever_id,
    device,
    position,
    rank,
    days_with_data,
    impressions,
    clicks,
    p AS ctr,
    greatest(0.0, least(p, (p + 1.959964 ^ 2 / (2 * n)) / (1 + 1.959964 ^ 2 / n)
        - 1.959964 * sqrt(p * (1 - p) / n + 1.959964 ^ 2 / (4 * n ^ 2)) / (1 + 1.959964 ^ 2 / n))) AS ctr_ci_low,
    least(1.0, greatest(p, (p + 1.959964 ^ 2 / (2 * n)) / (1 + 1.959964 ^ 2 / n)
        + 1.959964 * sqrt(p * (1 - p) / n + 1.959964 ^ 2 / (4 * n ^ 2)) / (1 + 1.959964 ^ 2 / n))) AS ctr_ci_high
FROM sums;
