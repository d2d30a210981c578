-- Column docs of marts.ctr_by_position_by_period (the daily mart's docs say what each count counts).
COMMENT ON VIEW marts.ctr_by_position_by_period IS 'CTR by position by ISO week and calendar month x retriever x device: marts.ctr_by_position summed, then divided.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.period IS 'week (ISO, Monday to Sunday) or month (calendar).';
COMMENT ON COLUMN marts.ctr_by_position_by_period.period_start IS 'First day of the period.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.period_end IS 'Last day of the period.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.retriever_id IS 'As in marts.ctr_by_position.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.device IS 'As in marts.ctr_by_position.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.position IS 'As in marts.ctr_by_position.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.rank IS 'As in marts.ctr_by_position.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.days_with_data IS 'Days of the period with rows in the daily mart: fewer than the days of the period means a partial period (the data starts or ends inside it).';
COMMENT ON COLUMN marts.ctr_by_position_by_period.impressions IS 'Sum of the daily impressions.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.clicks IS 'Sum of the daily clicks.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.ctr IS 'clicks / impressions of the sums (NULL without impressions).';
COMMENT ON COLUMN marts.ctr_by_position_by_period.ctr_ci_low IS 'Lower bound of the Wilson score 95% interval of ctr, from the summed counts.';
COMMENT ON COLUMN marts.ctr_by_position_by_period.ctr_ci_high IS 'Upper bound of the Wilson score 95% interval of ctr, from the summed counts.';
