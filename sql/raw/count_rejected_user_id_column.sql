-- Whether raw.rejected_interactions has its user_id column yet (0 before the migration).
SELECT count(*)
FROM duckdb_columns()
WHERE database_name = current_database()
  AND schema_name = 'raw'
  AND table_name = 'rejected_interactions'
  AND column_name = 'user_id';
