DELETE FROM staging.search_executions WHERE execution_date < $cutoff;
