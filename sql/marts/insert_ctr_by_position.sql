-- CTR at a position = clicks / impressions over shown slots (docs/metrics.md#ctr-by-position), with the Wilson
-- score 95% interval (z = 1.959964). Examined-only slots (clients without impressions) have no impressions: left
-- out.
INSERT INTO marts.ctr_by_position BY NAME
WITH counts AS (
    SELECT
        execution_date AS day,
        retriever_id,
        device,
        position,
        count(*) AS impressions,
        count(*) FILTER (WHERE clicked) AS clicks
    FROM staging.result_slots
    WHERE slot_basis = 'shown' AND list_contains($days, execution_date)
    GROUP BY ALL
),
rates AS (
    SELECT
        *,
        clicks / impressions AS p,
        (clicks / impressions + 1.959964 ^ 2 / (2 * impressions)) / (1 + 1.959964 ^ 2 / impressions) AS centre,
        1.959964 * sqrt(
            (clicks / impressions) * (1 - clicks / impressions) / impressions + 1.959964 ^ 2 / (4 * impressions ^ 2)
        ) / (1 + 1.959964 ^ 2 / impressions) AS half_width
    FROM counts
)
SELECT
    day,
    retriever_id,
    device,
    position,
    position + 1 AS rank,
    impressions,
    clicks,
    p AS ctr,
    -- The interval brackets p and lies in [0, 1] by construction; floating point can miss either by 1e-18
    -- (at p = 0 and n = 138 the lower bound came out as +1.7e-18), so both are clamped.
    greatest(0.0, least(p, centre - half_width)) AS ctr_ci_low,
    least(1.0, greatest(p, centre + half_width)) AS ctr_ci_high
FROM rates;
