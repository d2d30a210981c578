CREATE TABLE IF NOT EXISTS marts.document_ctr (
    grain VARCHAR NOT NULL,
    query_text VARCHAR,
    feature_id VARCHAR NOT NULL,
    window_start DATE NOT NULL,
    window_end DATE NOT NULL,
    impressions BIGINT NOT NULL,
    clicks BIGINT NOT NULL,
    ctr DOUBLE,
    mean_rank DOUBLE NOT NULL,
    conversions BIGINT NOT NULL,
    conversion_rate DOUBLE,
    impressions_with_curve BIGINT NOT NULL,
    clicks_with_curve BIGINT NOT NULL,
    expected_examinations DOUBLE,
    debiased_ctr DOUBLE
);
