CREATE TABLE IF NOT EXISTS marts.query_health (
    day DATE NOT NULL,
    query VARCHAR,
    searches BIGINT NOT NULL,
    tracked_searches BIGINT NOT NULL,
    no_click_searches BIGINT NOT NULL,
    no_click_rate DOUBLE,
    zero_result_searches BIGINT NOT NULL,
    zero_results_rate DOUBLE,
    refined_searches BIGINT NOT NULL,
    refinement_rate DOUBLE
);
