-- docs/metrics.md#search-level-rates: search CTR and no-click rate over tracked searches, zero-results rate over
-- all searches, average click rank over clicks: every clicked (execution, position), as staging.search_executions
-- counts them, whether or not the client reported the slot shown. A rate over zero is NULL.
INSERT INTO marts.search_ctr BY NAME
WITH searches AS (
    SELECT
        execution_date AS day,
        retriever_id,
        count(*) AS searches,
        count(*) FILTER (WHERE tracked) AS tracked_searches,
        count(*) FILTER (WHERE tracked AND clicks > 0) AS searches_with_click,
        count(*) FILTER (WHERE tracked AND clicks = 0) AS no_click_searches,
        count(*) FILTER (WHERE zero_results) AS zero_result_searches
    FROM staging.search_executions
    WHERE list_contains($days, execution_date)
    GROUP BY ALL
),
clicked_positions AS (
    SELECT DISTINCT e.execution_id, e.position
    FROM staging.interaction_events AS e
    WHERE e.interaction_type = 'click'
      AND e.event_date BETWEEN list_min($days) AND list_max($days) + 1
),
clicks AS (
    SELECT
        x.execution_date AS day,
        x.retriever_id,
        count(*) AS clicks,
        sum(c.position + 1) AS click_rank_sum,
        count(*) FILTER (WHERE c.position + 1 = 1) AS clicks_rank_1,
        count(*) FILTER (WHERE c.position + 1 = 2) AS clicks_rank_2,
        count(*) FILTER (WHERE c.position + 1 = 3) AS clicks_rank_3,
        count(*) FILTER (WHERE c.position + 1 = 4) AS clicks_rank_4,
        count(*) FILTER (WHERE c.position + 1 = 5) AS clicks_rank_5,
        count(*) FILTER (WHERE c.position + 1 = 6) AS clicks_rank_6,
        count(*) FILTER (WHERE c.position + 1 = 7) AS clicks_rank_7,
        count(*) FILTER (WHERE c.position + 1 = 8) AS clicks_rank_8,
        count(*) FILTER (WHERE c.position + 1 = 9) AS clicks_rank_9,
        count(*) FILTER (WHERE c.position + 1 = 10) AS clicks_rank_10,
        count(*) FILTER (WHERE c.position + 1 BETWEEN 11 AND 20) AS clicks_rank_11_20,
        count(*) FILTER (WHERE c.position + 1 >= 21) AS clicks_rank_21_plus
    FROM clicked_positions AS c
    JOIN staging.search_executions AS x USING (execution_id)
    WHERE list_contains($days, x.execution_date)
    GROUP BY ALL
)
SELECT
    s.day,
    s.retriever_id,
    s.searches,
    s.tracked_searches,
    s.searches_with_click,
    s.searches_with_click / nullif(s.tracked_searches, 0) AS search_ctr,
    s.no_click_searches,
    s.no_click_searches / nullif(s.tracked_searches, 0) AS no_click_rate,
    s.zero_result_searches,
    s.zero_result_searches / nullif(s.searches, 0) AS zero_results_rate,
    coalesce(c.clicks, 0) AS clicks,
    coalesce(c.click_rank_sum, 0) AS click_rank_sum,
    c.click_rank_sum / nullif(c.clicks, 0) AS average_click_rank,
    coalesce(c.clicks_rank_1, 0) AS clicks_rank_1,
    coalesce(c.clicks_rank_2, 0) AS clicks_rank_2,
    coalesce(c.clicks_rank_3, 0) AS clicks_rank_3,
    coalesce(c.clicks_rank_4, 0) AS clicks_rank_4,
    coalesce(c.clicks_rank_5, 0) AS clicks_rank_5,
    coalesce(c.clicks_rank_6, 0) AS clicks_rank_6,
    coalesce(c.clicks_rank_7, 0) AS clicks_rank_7,
    coalesce(c.clicks_rank_8, 0) AS clicks_rank_8,
    coalesce(c.clicks_rank_9, 0) AS clicks_rank_9,
    coalesce(c.clicks_rank_10, 0) AS clicks_rank_10,
    coalesce(c.clicks_rank_11_20, 0) AS clicks_rank_11_20,
    coalesce(c.clicks_rank_21_plus, 0) AS clicks_rank_21_plus
FROM searches AS s
LEFT JOIN clicks AS c ON c.day = s.day AND c.retriever_id IS NOT DISTINCT FROM s.retriever_id;
