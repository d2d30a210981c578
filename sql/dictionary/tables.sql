SELECT schema_name, table_name, comment
FROM duckdb_tables()
WHERE list_contains($schemas, schema_name)
ORDER BY list_position($schemas, schema_name), table_name;
