-- Per document and per (query, document), over a window of search days, given the position-bias rows of that window
-- as the relation `position_bias_fit` (the mart's refresh and the report register it). Expected examinations add up
-- theta_k / theta_0 at each shown slot, from the slot's device curve or, where that is not identified, the
-- all-traffic curve; the debiased CTR is the ratio estimator (docs/metrics.md#debiased-document-ctr) over the slots
-- with a curve value: the CTR the result would get at rank 1.
WITH slots AS (
    SELECT
        s.query_text,
        s.feature_id,
        s.rank,
        s.clicked,
        s.converted,
        coalesce(by_device.examination, overall.examination) AS examination
    FROM staging.result_slots AS s
    LEFT JOIN position_bias_fit AS by_device
        ON by_device.segment_type = 'device' AND by_device.segment = s.device AND by_device.position = s.position
    LEFT JOIN position_bias_fit AS overall
        ON overall.segment_type = 'all' AND overall.position = s.position
    WHERE s.shown
      AND s.feature_id IS NOT NULL
      AND s.execution_date BETWEEN $window_start AND $window_end
)
SELECT
    CASE WHEN grouping(query_text) = 1 THEN 'document' ELSE 'query_document' END AS grain,
    query_text,
    feature_id,
    $window_start::DATE AS window_start,
    $window_end::DATE AS window_end,
    count(*) AS impressions,
    count(*) FILTER (WHERE clicked) AS clicks,
    count(*) FILTER (WHERE clicked) / count(*) AS ctr,
    avg(rank) AS mean_rank,
    count(*) FILTER (WHERE converted) AS conversions,
    count(*) FILTER (WHERE converted) / count(*) AS conversion_rate,
    count(examination) AS impressions_with_curve,
    count(*) FILTER (WHERE clicked AND examination IS NOT NULL) AS clicks_with_curve,
    sum(examination) AS expected_examinations,
    count(*) FILTER (WHERE clicked AND examination IS NOT NULL) / nullif(sum(examination), 0) AS debiased_ctr
FROM slots
GROUP BY GROUPING SETS ((feature_id), (query_text, feature_id));
