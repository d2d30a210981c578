-- Column docs of marts.search_ctr_by_period (the daily mart's docs say what each count counts).
COMMENT ON VIEW marts.search_ctr_by_period IS 'Search-level engagement by ISO week and calendar month x retriever: marts.search_ctr summed, then divided.';
COMMENT ON COLUMN marts.search_ctr_by_period.period IS 'week (ISO, Monday to Sunday) or month (calendar).';
COMMENT ON COLUMN marts.search_ctr_by_period.period_start IS 'First day of the period.';
COMMENT ON COLUMN marts.search_ctr_by_period.period_end IS 'Last day of the period.';
COMMENT ON COLUMN marts.search_ctr_by_period.retriever_id IS 'As in marts.search_ctr.';
COMMENT ON COLUMN marts.search_ctr_by_period.days_with_data IS 'Days of the period with rows in the daily mart: fewer than the days of the period means a partial period (the data starts or ends inside it).';
COMMENT ON COLUMN marts.search_ctr_by_period.searches IS 'Sum of the daily searches.';
COMMENT ON COLUMN marts.search_ctr_by_period.tracked_searches IS 'Sum of the daily tracked_searches.';
COMMENT ON COLUMN marts.search_ctr_by_period.searches_with_click IS 'Sum of the daily searches_with_click.';
COMMENT ON COLUMN marts.search_ctr_by_period.search_ctr IS 'searches_with_click / tracked_searches of the sums (NULL when tracked_searches is 0).';
COMMENT ON COLUMN marts.search_ctr_by_period.no_click_searches IS 'Sum of the daily no_click_searches.';
COMMENT ON COLUMN marts.search_ctr_by_period.no_click_rate IS 'no_click_searches / tracked_searches of the sums (NULL when tracked_searches is 0).';
COMMENT ON COLUMN marts.search_ctr_by_period.zero_result_searches IS 'Sum of the daily zero_result_searches.';
COMMENT ON COLUMN marts.search_ctr_by_period.zero_results_rate IS 'zero_result_searches / searches of the sums (NULL when searches is 0).';
COMMENT ON COLUMN marts.search_ctr_by_period.clicks IS 'Sum of the daily clicks.';
COMMENT ON COLUMN marts.search_ctr_by_period.average_click_rank IS 'Sum of the click ranks / clicks over the period (NULL without clicks).';
