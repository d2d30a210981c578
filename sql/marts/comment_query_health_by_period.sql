-- Column docs of marts.query_health_by_period (the daily mart's docs say what each count counts).
COMMENT ON VIEW marts.query_health_by_period IS 'Query health by ISO week and calendar month x query: marts.query_health summed, then divided.';
COMMENT ON COLUMN marts.query_health_by_period.period IS 'week (ISO, Monday to Sunday) or month (calendar).';
COMMENT ON COLUMN marts.query_health_by_period.period_start IS 'First day of the period.';
COMMENT ON COLUMN marts.query_health_by_period.period_end IS 'Last day of the period.';
COMMENT ON COLUMN marts.query_health_by_period.query IS 'As in marts.query_health.';
COMMENT ON COLUMN marts.query_health_by_period.days_with_data IS 'Days of the period with rows in the daily mart: fewer than the days of the period means a partial period (the data starts or ends inside it).';
COMMENT ON COLUMN marts.query_health_by_period.searches IS 'Sum of the daily searches.';
COMMENT ON COLUMN marts.query_health_by_period.tracked_searches IS 'Sum of the daily tracked_searches.';
COMMENT ON COLUMN marts.query_health_by_period.no_click_searches IS 'Sum of the daily no_click_searches.';
COMMENT ON COLUMN marts.query_health_by_period.no_click_rate IS 'no_click_searches / tracked_searches of the sums (NULL when tracked_searches is 0).';
COMMENT ON COLUMN marts.query_health_by_period.zero_result_searches IS 'Sum of the daily zero_result_searches.';
COMMENT ON COLUMN marts.query_health_by_period.zero_results_rate IS 'zero_result_searches / searches of the sums (NULL when searches is 0).';
COMMENT ON COLUMN marts.query_health_by_period.refined_searches IS 'Sum of the daily refined_searches.';
COMMENT ON COLUMN marts.query_health_by_period.refinement_rate IS 'refined_searches / searches of the sums (NULL when searches is 0).';
