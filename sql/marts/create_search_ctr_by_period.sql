-- marts.search_ctr by ISO week and by calendar month, for analysts who would otherwise re-aggregate the days
-- themselves: counts are summed first and rates divided after, NULL over a zero denominator (a retriever whose
-- client sends no impressions tracks no searches), never NaN.
CREATE OR REPLACE VIEW marts.search_ctr_by_period AS
WITH days AS (  -- each daily row twice: in its ISO week and in its month
    SELECT periods.period, date_trunc(periods.period, daily.day)::DATE AS period_start, daily.*
    FROM marts.search_ctr AS daily
    CROSS JOIN (VALUES ('week'), ('month')) AS periods (period)
)
SELECT
    period,
    period_start,
    (period_start + ('1 ' || period)::INTERVAL - INTERVAL 1 DAY)::DATE AS period_end,
    retriever_id,
    count(DISTINCT day) AS days_with_data,
    sum(searches) AS searches,
    sum(tracked_searches) AS tracked_searches,
    sum(searches_with_click) AS searches_with_click,
    sum(searches_with_click) / nullif(sum(tracked_searches), 0) AS search_ctr,
    sum(no_click_searches) AS no_click_searches,
    sum(no_click_searches) / nullif(sum(tracked_searches), 0) AS no_click_rate,
    sum(zero_result_searches) AS zero_result_searches,
    sum(zero_result_searches) / nullif(sum(searches), 0) AS zero_results_rate,
    sum(clicks) AS clicks,
    sum(click_rank_sum) / nullif(sum(clicks), 0) AS average_click_rank
FROM days
GROUP BY period, period_start, retriever_id;
