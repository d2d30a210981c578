-- docs/metrics.md#skip-and-return-signals. Impression-based rates use shown slots; click-based rates (bounce,
-- pogo-sticking, dwell) use every clicked slot, shown or examined. Skip-above at k: skipped-above slots at k over
-- impressions at k in searches with a click below k (Joachims et al. 2005). Dwell thresholds are the staging
-- layer's (default 10 s and 30 s). A rate over zero is NULL.
INSERT INTO marts.skip_return_signals BY NAME
WITH slots AS (
    SELECT s.*, x.last_click_position
    FROM staging.result_slots AS s
    JOIN staging.search_executions AS x USING (execution_id)
    WHERE list_contains($days, s.execution_date)
),
counts AS (
    SELECT
        execution_date AS day,
        retriever_id,
        position,
        count(*) FILTER (WHERE shown) AS impressions,
        count(*) FILTER (WHERE shown AND explicit_skip) AS explicit_skips,
        count(*) FILTER (WHERE shown AND position < coalesce(last_click_position, -1)) AS impressions_above_a_click,
        count(*) FILTER (WHERE shown AND skipped_above) AS skipped_above,
        count(*) FILTER (WHERE clicked) AS clicks,
        count(*) FILTER (WHERE clicked AND returned_to_results) AS returns_to_results,
        count(*) FILTER (WHERE clicked AND pogo_sticked) AS pogo_sticks,
        count(*) FILTER (WHERE short_dwell) AS short_dwell_clicks,
        count(*) FILTER (WHERE long_dwell) AS long_dwell_clicks
    FROM slots
    GROUP BY ALL
)
SELECT
    day,
    retriever_id,
    position,
    position + 1 AS rank,
    impressions,
    explicit_skips,
    explicit_skips / nullif(impressions, 0) AS explicit_skip_rate,
    impressions_above_a_click,
    skipped_above,
    skipped_above / nullif(impressions_above_a_click, 0) AS skip_above_rate,
    clicks,
    returns_to_results,
    returns_to_results / nullif(clicks, 0) AS bounce_rate,
    pogo_sticks,
    pogo_sticks / nullif(clicks, 0) AS pogo_sticking_rate,
    short_dwell_clicks,
    short_dwell_clicks / nullif(clicks, 0) AS short_dwell_rate,
    long_dwell_clicks,
    long_dwell_clicks / nullif(clicks, 0) AS long_dwell_rate
FROM counts;
