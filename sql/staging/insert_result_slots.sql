-- One row per (execution_id, position) shown. An execution with impressions lists its shown slots (slot_basis
-- 'shown'). One without (a client that sends no impressions) falls back to the cascade assumption
-- (docs/metrics.md#units): the slots at or above its last click were examined; they are labelled 'examined', never
-- shown. Its executions are staging.search_executions' (same events, from the day before $days to the day after).
INSERT INTO staging.result_slots BY NAME
WITH events AS (
    SELECT *
    FROM staging.interaction_events
    WHERE execution_id IS NOT NULL
      AND event_date BETWEEN list_min($days) - 1 AND list_max($days) + 1
),
executions AS (
    SELECT
        execution_id,
        CAST(min(event_at) AT TIME ZONE 'UTC' AS DATE) AS execution_date,
        arg_min(retriever_id, (event_at, interaction_id, interaction_type)) AS retriever_id,
        arg_min(device, (event_at, interaction_id, interaction_type)) AS device,
        arg_min(query_text, (event_at, interaction_id, interaction_type)) AS query_text,
        bool_or(interaction_type IN ('impression', 'view')) AS tracked,
        max(position) FILTER (WHERE interaction_type = 'click') AS last_click_position
    FROM events
    GROUP BY execution_id
    HAVING list_contains($days, CAST(min(event_at) AT TIME ZONE 'UTC' AS DATE))
),
slot_events AS (
    SELECT
        execution_id,
        position,
        arg_min(feature_id, (event_at, interaction_id, interaction_type)) AS feature_id,
        bool_or(interaction_type IN ('impression', 'view')) AS shown,
        min(event_at) FILTER (WHERE interaction_type = 'click') AS clicked_at,
        bool_or(list_contains($conversion_types, interaction_type)) AS converted,
        bool_or(interaction_type = 'skip') AS explicit_skip,
        min(event_at) FILTER (WHERE interaction_type = 'return_to_results') AS returned_at,
        max(duration_ms) FILTER (WHERE interaction_type IN ('click', 'dwell', 'long_view')) AS dwell_ms,
        bool_or(interaction_type = 'long_view') AS long_view
    FROM events
    GROUP BY execution_id, position
),
slots AS (
    SELECT e.execution_id, s.position, 'shown' AS slot_basis
    FROM executions AS e
    JOIN slot_events AS s USING (execution_id)
    WHERE e.tracked AND s.shown
    UNION ALL
    SELECT e.execution_id, CAST(g.position AS INTEGER) AS position, 'examined' AS slot_basis
    FROM executions AS e, generate_series(0, e.last_click_position) AS g(position)
    WHERE NOT e.tracked AND e.last_click_position IS NOT NULL
)
SELECT
    slots.execution_id,
    slots.position,
    slots.position + 1 AS rank,
    e.execution_date,
    e.retriever_id,
    e.device,
    e.query_text,
    s.feature_id,
    slots.slot_basis,
    slots.slot_basis = 'shown' AS shown,
    s.clicked_at IS NOT NULL AS clicked,
    s.clicked_at,
    coalesce(s.converted, false) AS converted,
    coalesce(s.explicit_skip, false) AS explicit_skip,
    -- Joachims et al. 2005, click > skip above: not clicked, with a click further down the page.
    s.clicked_at IS NULL AND slots.position < coalesce(e.last_click_position, -1) AS skipped_above,
    s.returned_at IS NOT NULL AS returned_to_results,
    s.returned_at,
    -- A bounce followed by another click in the same execution.
    s.returned_at IS NOT NULL AND EXISTS (
        SELECT 1 FROM slot_events AS later
        WHERE later.execution_id = slots.execution_id AND later.clicked_at > s.returned_at
    ) AS pogo_sticked,
    s.dwell_ms,
    s.clicked_at IS NOT NULL AND coalesce(s.dwell_ms < $short_dwell_ms, false) AND NOT coalesce(s.long_view, false)
        AS short_dwell,
    s.clicked_at IS NOT NULL AND (coalesce(s.dwell_ms >= $long_dwell_ms, false) OR coalesce(s.long_view, false))
        AS long_dwell
FROM slots
JOIN executions AS e USING (execution_id)
LEFT JOIN slot_events AS s ON s.execution_id = slots.execution_id AND s.position = slots.position;
