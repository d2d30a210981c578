-- marts.query_health by ISO week and by calendar month: counts summed first, rates divided after, NULL over a
-- zero denominator, never NaN.
CREATE OR REPLACE VIEW marts.query_health_by_period AS
WITH days AS (  -- each daily row twice: in its ISO week and in its month
    SELECT periods.period, date_trunc(periods.period, daily.day)::DATE AS period_start, daily.*
    FROM marts.query_health AS daily
    CROSS JOIN (VALUES ('week'), ('month')) AS periods (period)
)
SELECT
    period,
    period_start,
    (period_start + ('1 ' || period)::INTERVAL - INTERVAL 1 DAY)::DATE AS period_end,
    query,
    count(DISTINCT day) AS days_with_data,
    sum(searches) AS searches,
    sum(tracked_searches) AS tracked_searches,
    sum(no_click_searches) AS no_click_searches,
    sum(no_click_searches) / nullif(sum(tracked_searches), 0) AS no_click_rate,
    sum(zero_result_searches) AS zero_result_searches,
    sum(zero_result_searches) / nullif(sum(searches), 0) AS zero_results_rate,
    sum(refined_searches) AS refined_searches,
    sum(refined_searches) / nullif(sum(searches), 0) AS refinement_rate
FROM days
GROUP BY period, period_start, query;
