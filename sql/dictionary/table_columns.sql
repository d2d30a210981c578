SELECT column_name, data_type, comment
FROM duckdb_columns()
WHERE database_name = current_database() AND schema_name = $schema AND table_name = $table
ORDER BY column_index;
