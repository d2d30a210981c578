"""Move a warehouse into another (Dagster-free): `interactions migrate --from SOURCE`.

SOURCE is a DuckDB file this DuckDB can open, or the folder of `EXPORT DATABASE ... (FORMAT parquet)` (how a
file written by a newer DuckDB comes over: export it with that DuckDB). Every table of raw, staging and the
marts is copied, as it is, into the configured warehouse, usually a lake, in one transaction: nothing is
recomputed, and a failure leaves the target as it was. The target must hold no interactions yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from interactions_etl import warehouse
from interactions_etl.marts import ensure_mart_tables

SCHEMAS = ("raw", "staging", "marts")
_COPY = re.compile(r"COPY (\w+)\.(\w+) FROM '([^']+)'")


class MigrationError(RuntimeError):
    """The source cannot be read, or the target is not empty; one line."""


@dataclass
class MigrationReport:
    rows: dict[str, int] = field(default_factory=dict)  # rows copied per table
    skipped: list[str] = field(default_factory=list)  # target tables the source does not have


def _target_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        f"{schema}.{name}"
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND list_contains(?, schema_name) ORDER BY ALL",
            [list(SCHEMAS)],
        ).fetchall()
    ]


def _export_files(folder: Path) -> dict[str, Path]:
    """`schema.table` -> its Parquet file, from the export's load.sql."""
    load = folder / "load.sql"
    if not load.exists():
        raise MigrationError(f"{folder} holds no load.sql: not a folder of EXPORT DATABASE")
    files = {}
    for schema, table, name in _COPY.findall(load.read_text()):
        path = Path(name) if Path(name).is_absolute() else folder / Path(name).name
        files[f"{schema}.{table}"] = path
    return files


def migrate(source: Path, target: warehouse.Location) -> MigrationReport:
    if not source.exists():
        raise MigrationError(f"{source} does not exist")
    report = MigrationReport()
    con = warehouse.connect(target)
    try:
        ensure_mart_tables(con)  # every table of raw, staging and the marts, with their comments
        held = warehouse.one(con, "checks/raw_interactions_row_count")[0]
        if held:
            raise MigrationError(
                f"the target already holds {held:,} interactions: migrate into an empty warehouse"
            )
        if source.is_dir():
            files = _export_files(source)
            reads = {table: f"read_parquet({warehouse.literal(str(path))})" for table, path in files.items()}
        else:
            try:
                warehouse.attach(con, source, "source", read_only=True)
            except duckdb.Error as exc:
                raise MigrationError(f"cannot open {source}: {str(exc).splitlines()[0]}") from None
            found = con.execute(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = 'source'"
            ).fetchall()
            reads = {row[0]: f"source.{row[0]}" for row in found}
        with warehouse.writer_lock(target, "migrate"), warehouse.transaction(con):
            for table in _target_tables(con):
                if table not in reads:
                    report.skipped.append(table)
                    continue
                con.execute(f"DELETE FROM {table}")  # bookkeeping rows the DDL may have written
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {reads[table]}")
                report.rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if not source.is_dir():
            con.execute("DETACH source")
    finally:
        con.close()
    return report
