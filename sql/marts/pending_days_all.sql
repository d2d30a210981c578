SELECT DISTINCT execution_date FROM staging.search_executions ORDER BY execution_date;
