SELECT
    (SELECT count(*) FROM staging.interaction_events) AS interaction_events,
    (SELECT count(*) FROM staging.search_executions) AS search_executions,
    (SELECT count(*) FROM staging.result_slots) AS result_slots;
