-- The headline figures of one period [$start, $end] (search days, both inclusive), as counts to divide, from the
-- daily marts: each rate is re-aggregated from its numerator and denominator.
SELECT
    (SELECT coalesce(sum(searches), 0) FROM marts.search_ctr WHERE day BETWEEN $start AND $end) AS searches,
    (SELECT coalesce(sum(tracked_searches), 0) FROM marts.search_ctr WHERE day BETWEEN $start AND $end)
        AS tracked_searches,
    (SELECT coalesce(sum(searches_with_click), 0) FROM marts.search_ctr WHERE day BETWEEN $start AND $end)
        AS searches_with_click,
    (SELECT coalesce(sum(no_click_searches), 0) FROM marts.search_ctr WHERE day BETWEEN $start AND $end)
        AS no_click_searches,
    (SELECT coalesce(sum(zero_result_searches), 0) FROM marts.search_ctr WHERE day BETWEEN $start AND $end)
        AS zero_result_searches,
    (SELECT coalesce(sum(clicks), 0) FROM marts.search_ctr WHERE day BETWEEN $start AND $end) AS clicks,
    (SELECT coalesce(sum(click_rank_sum), 0) FROM marts.search_ctr WHERE day BETWEEN $start AND $end)
        AS click_rank_sum,
    (SELECT coalesce(sum(converted_searches), 0) FROM marts.conversion_rates
        WHERE grain = 'query' AND day BETWEEN $start AND $end) AS converted_searches,
    (SELECT coalesce(sum(tracked_searches), 0) FROM marts.conversion_rates
        WHERE grain = 'query' AND day BETWEEN $start AND $end) AS conversion_tracked_searches,
    (SELECT coalesce(sum(returns_to_results), 0) FROM marts.skip_return_signals WHERE day BETWEEN $start AND $end)
        AS returns_to_results,
    (SELECT coalesce(sum(clicks), 0) FROM marts.skip_return_signals WHERE day BETWEEN $start AND $end)
        AS signal_clicks,
    (SELECT coalesce(sum(refined_searches), 0) FROM marts.query_health WHERE day BETWEEN $start AND $end)
        AS refined_searches,
    (SELECT coalesce(sum(searches), 0) FROM marts.query_health WHERE day BETWEEN $start AND $end)
        AS health_searches;
