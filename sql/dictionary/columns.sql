SELECT schema_name, table_name, column_name, data_type, comment
FROM duckdb_columns()
WHERE database_name = current_database() AND list_contains($schemas, schema_name)
ORDER BY list_position($schemas, schema_name), table_name, column_index;
