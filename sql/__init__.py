"""The warehouse's SQL, one statement per file, shipped inside the package as `interactions_etl.sql` and read
through importlib.resources (interactions_etl.warehouse.sql)."""
