-- The segments of the window's shown slots besides 'all': its retrievers and devices, sorted. The slots query
-- then carries each slot's segment as a small integer code (its 1-based place in these lists, 0 for none):
-- fetching the strings themselves for millions of slots costs more than the fit's EM.
SELECT
    coalesce(list(DISTINCT retriever_id ORDER BY retriever_id) FILTER (WHERE retriever_id IS NOT NULL), []::VARCHAR[]) AS retrievers,
    coalesce(list(DISTINCT device ORDER BY device) FILTER (WHERE device IS NOT NULL), []::VARCHAR[]) AS devices
FROM staging.result_slots
WHERE shown
  AND feature_id IS NOT NULL
  AND execution_date BETWEEN $window_start AND $window_end;
