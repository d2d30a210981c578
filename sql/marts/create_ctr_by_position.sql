CREATE TABLE IF NOT EXISTS marts.ctr_by_position (
    day DATE NOT NULL,
    retriever_id VARCHAR,
    device VARCHAR,
    position INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    impressions BIGINT NOT NULL,
    clicks BIGINT NOT NULL,
    ctr DOUBLE,
    ctr_ci_low DOUBLE,
    ctr_ci_high DOUBLE
);
