-- Shown slots of the window, as numbers for the EM and its bootstrap: the (query, document) pair and the
-- execution as 64-bit hashes (the execution is the bootstrap's resampling unit), the retriever and device as
-- codes into position_bias_segments' lists (0: none). 'Examined' slots, the cascade fallback for clients without
-- impressions, stay out: the model needs slots known to have been shown.
SELECT
    coalesce(list_position($retrievers::VARCHAR[], retriever_id), 0)::INTEGER AS retriever_code,
    coalesce(list_position($devices::VARCHAR[], device), 0)::INTEGER AS device_code,
    hash(coalesce(query_text, ''), feature_id) AS pair_key,
    position,
    hash(execution_id) AS execution_key,
    clicked
FROM staging.result_slots
WHERE shown
  AND feature_id IS NOT NULL
  AND execution_date BETWEEN $window_start AND $window_end;
