-- How many of the tables and views named `schema.name` exist in the warehouse (the default database).
SELECT count(*)
FROM (
    SELECT schema_name, table_name AS name FROM duckdb_tables() WHERE database_name = current_database()
    UNION ALL
    SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal
)
WHERE list_contains($names, schema_name || '.' || name);
