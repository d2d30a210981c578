-- One row per execution_id (a retriever execution = one result page). Its day is the day of its first event;
-- it gathers its events up to the end of the next day (a search that crosses midnight, a purchase hours later).
-- The events read start the day before $days, so a search that began then keeps that day and is left out here
-- rather than restarting at midnight: a refresh cut into batches of days writes what one statement would.
-- Impressions count shown slots (`impression`, or `view` from clients that send no impressions); clicks count
-- clicked slots, so a slot clicked twice is one click (CTR stays a share of slots).
-- Where an execution's events disagree (session, user, query, device), the earliest event's non-NULL value
-- wins, ties by interaction_id: never whichever row a scan met first, so a re-run gives the same table.
INSERT INTO staging.search_executions BY NAME
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
        min(event_at) AS started_at,
        arg_min(retriever_id, (event_at, interaction_id, interaction_type)) AS retriever_id,
        arg_min(session_id, (event_at, interaction_id, interaction_type)) AS session_id,
        arg_min(user_id, (event_at, interaction_id, interaction_type)) AS user_id,
        arg_min(query_text, (event_at, interaction_id, interaction_type)) AS query_text,
        arg_min(device, (event_at, interaction_id, interaction_type)) AS device,
        max(result_set_size) AS result_set_size,
        count(DISTINCT position) FILTER (WHERE interaction_type IN ('impression', 'view')) AS impressions,
        count(DISTINCT position) FILTER (WHERE interaction_type = 'click') AS clicks,
        min(position) FILTER (WHERE interaction_type = 'click') AS first_click_position,
        max(position) FILTER (WHERE interaction_type = 'click') AS last_click_position,
        count(*) FILTER (WHERE list_contains($conversion_types, interaction_type)) AS conversions,
        bool_or(interaction_type = 'zero_results') OR coalesce(min(result_set_size), 1) = 0 AS zero_results,
        bool_or(interaction_type = 'return_to_results') AS returned,
        bool_or(interaction_type = 'query_refinement') AS refinement_recorded_on_it
    FROM events
    GROUP BY execution_id
),
sequenced AS (
    SELECT *, lead(started_at) OVER (PARTITION BY session_id ORDER BY started_at, execution_id) AS next_started_at
    FROM executions
)
SELECT
    e.execution_id,
    e.execution_date,
    e.started_at,
    e.retriever_id,
    e.session_id,
    e.user_id,
    e.query_text,
    e.device,
    e.result_set_size,
    e.impressions > 0 AS tracked,
    e.impressions,
    e.clicks,
    e.first_click_position,
    e.last_click_position,
    e.conversions,
    e.conversions > 0 AS converted,
    e.zero_results,
    -- docs/metrics.md#search-level-rates: followed by a query_refinement in the same session within 5 minutes. A
    -- refinement belongs to the search it follows, not to an earlier one: it must come before the session's next
    -- search. A client may also record the refinement against the search it refines (its execution_id).
    e.refinement_recorded_on_it OR EXISTS (
        SELECT 1
        FROM events AS r
        WHERE r.interaction_type = 'query_refinement'
          AND r.session_id = e.session_id
          AND r.event_at >= e.started_at
          AND r.event_at <= e.started_at + INTERVAL 5 MINUTE
          AND (e.next_started_at IS NULL OR r.event_at < e.next_started_at)
    ) AS refined,
    e.returned
FROM sequenced AS e
WHERE list_contains($days, e.execution_date);
