-- Two grains in one table, told apart by `grain`: 'position' (day x retriever x position) and 'query' (day x
-- query). docs/metrics.md#conversions-and-revenue: conversion rate = tracked searches with a conversion / tracked
-- searches; also per click and per impression. A conversion is a slot with a conversion event (add_to_cart or
-- purchase by default: the staging layer's setting). Revenue sums purchase order values per currency, as a JSON
-- object {"USD": 12.5} with its keys in alphabetical order and sums rounded to 6 decimals, so a re-run writes the
-- same text whatever order the rows were added in.
INSERT INTO marts.conversion_rates BY NAME
WITH conversion_events AS (
    SELECT
        execution_id,
        position,
        bool_or(interaction_type = 'add_to_cart') AS added_to_cart,
        bool_or(interaction_type = 'purchase') AS purchased
    FROM staging.interaction_events
    WHERE execution_id IS NOT NULL
      AND interaction_type IN ('add_to_cart', 'purchase')
      AND event_date BETWEEN list_min($days) AND list_max($days) + 1
    GROUP BY ALL
),
purchase_values AS (
    SELECT execution_id, position, currency, sum(order_value) AS revenue
    FROM staging.interaction_events
    WHERE interaction_type = 'purchase'
      AND order_value IS NOT NULL
      AND event_date BETWEEN list_min($days) AND list_max($days) + 1
    GROUP BY ALL
),
slots AS (
    SELECT
        s.execution_date AS day,
        s.retriever_id,
        s.position,
        lower(trim(s.query_text)) AS query,
        s.execution_id,
        s.shown,
        s.clicked,
        s.converted,
        coalesce(c.added_to_cart, false) AS added_to_cart,
        coalesce(c.purchased, false) AS purchased
    FROM staging.result_slots AS s
    LEFT JOIN conversion_events AS c USING (execution_id, position)
    WHERE list_contains($days, s.execution_date)
),
by_position AS (
    SELECT
        day,
        retriever_id,
        position,
        count(DISTINCT execution_id) AS searches,
        count(DISTINCT execution_id) FILTER (WHERE shown) AS tracked_searches,
        count(DISTINCT execution_id) FILTER (WHERE shown AND converted) AS converted_searches,
        count(*) FILTER (WHERE shown) AS impressions,
        count(*) FILTER (WHERE clicked) AS clicks,
        count(*) FILTER (WHERE added_to_cart) AS add_to_cart,
        count(*) FILTER (WHERE purchased) AS purchases,
        count(*) FILTER (WHERE converted) AS conversions
    FROM slots
    GROUP BY ALL
),
position_revenue AS (
    SELECT day, retriever_id, position, to_json(map(list(currency ORDER BY currency), list(revenue ORDER BY currency))) AS revenue_by_currency
    FROM (
        SELECT s.day, s.retriever_id, s.position, v.currency, round(sum(v.revenue), 6) AS revenue
        FROM slots AS s
        JOIN purchase_values AS v USING (execution_id, position)
        GROUP BY ALL
    )
    GROUP BY ALL
),
slots_by_query AS (
    SELECT
        day,
        query,
        count(*) FILTER (WHERE shown) AS impressions,
        count(*) FILTER (WHERE clicked) AS clicks,
        count(*) FILTER (WHERE added_to_cart) AS add_to_cart,
        count(*) FILTER (WHERE purchased) AS purchases,
        count(*) FILTER (WHERE converted) AS conversions
    FROM slots
    GROUP BY ALL
),
searches_by_query AS (
    SELECT
        execution_date AS day,
        lower(trim(query_text)) AS query,
        count(*) AS searches,
        count(*) FILTER (WHERE tracked) AS tracked_searches,
        count(*) FILTER (WHERE tracked AND converted) AS converted_searches
    FROM staging.search_executions
    WHERE list_contains($days, execution_date)
    GROUP BY ALL
),
query_revenue AS (
    SELECT day, query, to_json(map(list(currency ORDER BY currency), list(revenue ORDER BY currency))) AS revenue_by_currency
    FROM (
        SELECT s.day, s.query, v.currency, round(sum(v.revenue), 6) AS revenue
        FROM slots AS s
        JOIN purchase_values AS v USING (execution_id, position)
        GROUP BY ALL
    )
    GROUP BY ALL
)
SELECT
    'position' AS grain,
    p.day,
    p.retriever_id,
    p.position,
    p.position + 1 AS rank,
    NULL AS query,
    p.searches,
    p.tracked_searches,
    p.converted_searches,
    p.impressions,
    p.clicks,
    p.add_to_cart,
    p.purchases,
    p.conversions,
    p.converted_searches / nullif(p.tracked_searches, 0) AS conversion_rate_per_search,
    p.conversions / nullif(p.clicks, 0) AS conversion_rate_per_click,
    p.conversions / nullif(p.impressions, 0) AS conversion_rate_per_impression,
    r.revenue_by_currency
FROM by_position AS p
LEFT JOIN position_revenue AS r
    ON r.day = p.day AND r.retriever_id IS NOT DISTINCT FROM p.retriever_id AND r.position = p.position
UNION ALL
SELECT
    'query' AS grain,
    q.day,
    NULL AS retriever_id,
    NULL AS position,
    NULL AS rank,
    q.query,
    q.searches,
    q.tracked_searches,
    q.converted_searches,
    coalesce(s.impressions, 0),
    coalesce(s.clicks, 0),
    coalesce(s.add_to_cart, 0),
    coalesce(s.purchases, 0),
    coalesce(s.conversions, 0),
    q.converted_searches / nullif(q.tracked_searches, 0) AS conversion_rate_per_search,
    s.conversions / nullif(s.clicks, 0) AS conversion_rate_per_click,
    s.conversions / nullif(s.impressions, 0) AS conversion_rate_per_impression,
    r.revenue_by_currency
FROM searches_by_query AS q
LEFT JOIN slots_by_query AS s ON s.day = q.day AND s.query IS NOT DISTINCT FROM q.query
LEFT JOIN query_revenue AS r ON r.day = q.day AND r.query IS NOT DISTINCT FROM q.query;
