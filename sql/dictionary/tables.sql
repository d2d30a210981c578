-- Tables and views (the marts' by-period views) with their own comments, in the dictionary's order.
SELECT schema_name, table_name, comment
FROM (
    SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = current_database()
    UNION ALL
    SELECT schema_name, view_name, comment
    FROM duckdb_views()
    WHERE database_name = current_database() AND NOT internal
)
WHERE list_contains($schemas, schema_name)
ORDER BY list_position($schemas, schema_name), table_name;
