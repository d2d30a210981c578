SELECT
    (SELECT count(*) FROM marts.ctr_by_position) AS ctr_by_position,
    (SELECT count(*) FROM marts.search_ctr) AS search_ctr,
    (SELECT count(*) FROM marts.skip_return_signals) AS skip_return_signals,
    (SELECT count(*) FROM marts.query_health) AS query_health,
    (SELECT count(*) FROM marts.conversion_rates) AS conversion_rates,
    (SELECT count(*) FROM marts.position_bias) AS position_bias,
    (SELECT count(*) FROM marts.document_ctr) AS document_ctr;
