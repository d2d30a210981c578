"""The DuckDB warehouse: connections and the SQL files in `sql/` (one statement per file)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from interactions_etl import lake as lakes
from interactions_etl.lake import Lake, literal

SQL = resources.files("interactions_etl.sql")  # the sql/ folder, inside the installed package
DEFAULT_WAREHOUSE_PATH = "warehouse.duckdb"


@cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql`, e.g. sql("raw/create_interactions")."""
    return SQL.joinpath(f"{name}.sql").read_text(encoding="utf-8")


_TABLE_COMMENT = re.compile(r"COMMENT ON TABLE (\w+\.\w+) IS '((?:[^']|'')*)';")


@cache
def table_description(qualified_name: str) -> str:
    """The table's COMMENT ON text from sql/<schema>/comment_<table>.sql: each table is described once, there,
    and the Dagster assets show the same words as the catalog and docs/warehouse.md."""
    schema, table = qualified_name.split(".")
    for name, text in _TABLE_COMMENT.findall(sql(f"{schema}/comment_{table}")):
        if name == qualified_name:
            return text.replace("''", "'")
    raise KeyError(f"sql/{schema}/comment_{table}.sql has no COMMENT ON TABLE {qualified_name}")


# How long a connection waits for another process's lock on the file before giving up.
DEFAULT_LOCK_TIMEOUT_SECONDS = 600.0


class WarehouseLockedError(RuntimeError):
    """Another process held the warehouse file for longer than the lock timeout."""


class WarehouseVersionError(RuntimeError):
    """The file was written by a DuckDB newer than this release's."""


# The warehouse: a DuckDB file (the default backend) or a DuckLake (WAREHOUSE_BACKEND=ducklake).
Location = str | os.PathLike[str] | Lake


def connect(
    location: Location,
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    snapshot: int | None = None,
    temp_directory: str | os.PathLike[str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, with its tables under their schemas (`raw.interactions`) on either backend.

    A DuckDB file has one writing process: a run that finds it locked (an `interactions load` beside a Dagster
    run, a second `dagster dev` without the run queue) waits its turn, polling, instead of failing on the first
    try. A lake takes many writers (pipelines/lake.py); `snapshot` opens it as of that snapshot, read-only."""
    if isinstance(location, Lake):
        return lakes.connect(
            location,
            read_only=read_only,
            memory_limit=memory_limit,
            snapshot=snapshot,
            temp_directory=temp_directory,
        )
    path = location
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory:
        config["temp_directory"] = str(temp_directory)
    deadline = time.monotonic() + lock_timeout_seconds
    pause = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.IOException as exc:
            if "newer version of DuckDB" in str(exc):
                raise WarehouseVersionError(
                    f"{path} was written by a newer DuckDB than this release's {duckdb.__version__}: export it "
                    "with that DuckDB (EXPORT DATABASE 'folder' (FORMAT parquet)), then `interactions migrate "
                    "--from folder` (docs/scale.md)"
                ) from None
            if "Could not set lock" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
                who = f"{holder.group(1)} (PID {holder.group(2)})" if holder else "another process"
                raise WarehouseLockedError(
                    f"{path} is locked by {who}; waited {lock_timeout_seconds:.0f} s for it"
                ) from exc
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
    con.execute("SET TimeZone = 'UTC'")  # days are UTC everywhere in this project
    return con


@contextlib.contextmanager
def writer_lock(
    location: Location, purpose: str, *, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
) -> Iterator[None]:
    """Hold the warehouse's writer lock around a transaction that writes it (`purpose` names it to a waiter).

    A lake takes writers from anywhere: they take turns on a PostgreSQL advisory lock in its catalog
    (pipelines/lake_lock.py), so no commit loses to another and a publish sees every committed day. A DuckDB
    file needs nothing more: a connection holds the file alone, across processes, until it closes."""
    if not isinstance(location, Lake):
        yield
        return
    from interactions_etl.lake_lock import writer_lock as lake_writer_lock  # psycopg2: the lake's alone

    with lake_writer_lock(location, purpose, timeout_seconds=lock_timeout_seconds):
        yield


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction around the block: COMMIT when it ends, ROLLBACK when it raises anything (a failed
    audit, a typing error, Ctrl-C) or when COMMIT itself fails. A rollback that fails in turn (the transaction
    already void) never hides the error that caused it."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


def attach(
    con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], alias: str, *, read_only: bool
) -> None:
    """ATTACH a DuckDB file under `alias` (DuckDB 1.5 cannot bind the path as a parameter)."""
    con.execute(f"ATTACH {literal(str(path))} AS {alias}{' (READ_ONLY)' if read_only else ''}")


class WarehouseMemoryError(RuntimeError):
    """A statement ran out of the memory DuckDB may use; the message is one line naming the setting."""


_OOM_FIGURES = re.compile(r"\(([\d.]+ \w+)/([\d.]+ \w+) used\)")


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Execute one SQL file with named parameters ($name): values are bound, never pasted into SQL. Out of
    memory is one line that names the statement, the limit and the setting to raise, instead of DuckDB's
    paragraph (its transaction, and with it the step's, rolls back)."""
    try:
        return con.execute(sql(name), params or None)
    except duckdb.OutOfMemoryException as exc:
        found = _OOM_FIGURES.search(str(exc))
        figures = f"{found.group(1)} used of a {found.group(2)} limit" if found else "over its limit"
        raise WarehouseMemoryError(
            f"out of memory in sql/{name}.sql ({figures}): raise WAREHOUSE_MEMORY_LIMIT, or make room where "
            "DuckDB spills (WAREHOUSE_TEMP_DIRECTORY)"
        ) from None


def rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[tuple[Any, ...]]:
    """Every row of one SQL file's result, fetched to the end (DuckDB 2 keeps a half-read result open)."""
    return run(con, name, **params).fetchall()


def one(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> tuple[Any, ...] | None:
    """The first row of a one-row query, or None."""
    result = rows(con, name, **params)
    return result[0] if result else None


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    data_type: str
    comment: str | None


def table_columns(con: duckdb.DuckDBPyConnection, qualified_name: str) -> list[ColumnDoc]:
    """A table's columns with their types and COMMENT ON texts, as the catalog holds them (the one source of
    every column description: Dagster's column schema and docs/warehouse.md both read it)."""
    schema, _, table = qualified_name.partition(".")
    return [ColumnDoc(*row) for row in rows(con, "dictionary/table_columns", schema=schema, table=table)]


NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PendingDays:
    days: list[date]  # the days to rebuild
    absorbed_until: datetime  # write this back once they are rebuilt


def pending_days(con: duckdb.DuckDBPyConnection, layer: str, *, full: bool) -> PendingDays:
    """The days the marts must rebuild: those the staging layer changed since the marts' watermark, or every
    day on a full refresh (files `marts/read_refresh_state`, `pending_days_all`, `pending_days_since`,
    `newest_change`). A watermark holds here because staging refreshes are serialised, so their stamps follow
    their commits; raw loads run in parallel on a lake, and the staging layer tracks them by key instead
    (pipelines/staging.py)."""
    state = one(con, f"{layer}/read_refresh_state")
    since = NEVER if full or state is None else state[0]
    listed = (
        rows(con, f"{layer}/pending_days_all")
        if full
        else rows(con, f"{layer}/pending_days_since", since=since)
    )
    newest = one(con, f"{layer}/newest_change")
    return PendingDays(days=[row[0] for row in listed], absorbed_until=(newest and newest[0]) or since)


def record_refresh(
    con: duckdb.DuckDBPyConnection, layer: str, pending: PendingDays, refreshed_at: datetime
) -> None:
    run(con, f"{layer}/delete_refresh_state")
    run(
        con, f"{layer}/insert_refresh_state", absorbed_until=pending.absorbed_until, refreshed_at=refreshed_at
    )


RAW_DDL = (
    "raw/create_schema",
    "raw/create_interactions",
    "raw/create_rejected_interactions",
    "raw/create_changed_event_dates",
    "raw/create_retention_state",
    # Column comments: duckdb_columns() (not DESCRIBE), BI tools and docs/warehouse.md show them.
    "raw/comment_interactions",
    "raw/comment_rejected_interactions",
    "raw/comment_changed_event_dates",
    "raw/comment_retention_state",
)


_CREATED = re.compile(r"CREATE (?:OR REPLACE )?(?:TABLE|VIEW) (?:IF NOT EXISTS )?(\w+\.\w+)")


_CREATED_VIEW = re.compile(r"CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?(\w+\.\w+)")
_COLUMN_COMMENT = re.compile(r"COMMENT ON COLUMN (\w+\.\w+)\.\w+ IS '(?:[^']|'')*';\n?")


def _without_view_column_comments(text: str, views: set[str]) -> str:
    """DuckLake keeps comments on tables, views and table columns, not on view columns: those statements are
    left out on a lake (docs/warehouse.md, built from a DuckDB file, still has every column's words)."""
    return _COLUMN_COMMENT.sub(lambda found: "" if found.group(1) in views else found.group(0), text)


def is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's default database is a DuckLake (pipelines/lake.py) rather than a DuckDB file."""
    found = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return found is not None and found[0] == "ducklake"


def ensure_tables(con: duckdb.DuckDBPyConnection, ddl: Sequence[str]) -> None:
    """Run a layer's DDL files (CREATE ... IF NOT EXISTS, views, COMMENT ON).

    A DuckDB file runs them every time: cheap, and a new release's comments and views reach old warehouses.
    On a lake each run would write the shared catalog, and writers on other machines would conflict on it: the
    files run only when one of their tables or views is missing, in one transaction, retried on a conflict with
    another process creating them at the same moment (`interactions migrate` re-applies them on purpose)."""
    if not is_lake(con):
        for name in ddl:
            run(con, name)
        return
    wanted = sorted({found for name in ddl for found in _CREATED.findall(sql(name))})
    present = one(con, "dictionary/count_objects", names=wanted)[0]
    if present == len(wanted):
        return
    views = {found for name in ddl for found in _CREATED_VIEW.findall(sql(name))}

    def create() -> None:
        with transaction(con):
            for name in ddl:
                con.execute(_without_view_column_comments(sql(name), views))

    lakes.retry_conflicts(create)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_tables(con, RAW_DDL)
    if not one(con, "raw/count_rejected_user_id_column")[0]:  # a warehouse from before the column
        ensure_quarantined_user_ids(con)


def ensure_quarantined_user_ids(con: duckdb.DuckDBPyConnection) -> int:
    """Migration in place: the quarantine's user_id column, added where missing, and filled for the records
    that name a user but do not have it yet (quarantined before the column existed), parsed as a load parses
    them (privacy.quarantined_user_id). Erasure runs it first, so that it deletes by the column alone. Returns
    the records filled."""
    from interactions_etl.privacy import quarantined_user_id

    def add_column() -> None:
        with transaction(con):
            run(con, "raw/add_rejected_user_id")

    if not one(con, "raw/count_rejected_user_id_column")[0]:
        if is_lake(con):  # another process may add it at the same moment
            lakes.retry_conflicts(add_column)
        else:
            run(con, "raw/add_rejected_user_id")
    parsed = [
        (text, quarantined_user_id(text.encode())) for (text,) in rows(con, "raw/quarantined_without_user_id")
    ]
    found = [(text, user_id) for text, user_id in parsed if user_id is not None]
    if found:
        import pandas as pd

        con.register("found", pd.DataFrame(found, columns=["raw_json", "user_id"]))
        try:
            run(con, "raw/set_quarantined_user_ids")
        finally:
            con.unregister("found")
    return len(found)


def published_path_for(
    path: str | os.PathLike[str], configured: str | os.PathLike[str] | None = None
) -> Path:
    """Where analysts' copy of `path` goes: `configured` (PUBLISHED_WAREHOUSE_PATH), else
    `<name>.published.duckdb` beside it."""
    if configured:
        return Path(configured)
    source = Path(path)
    return source.with_name(f"{source.stem}.published{source.suffix or '.duckdb'}")


def publish(
    path: str | os.PathLike[str],
    target: str | os.PathLike[str] | None = None,
    *,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Path:
    """Publish a finished copy of the warehouse for analysts, atomically (`prepare`: run first in the copying
    connection, which holds the file alone: no other process commits between it and the copy).

    DuckDB lets one process write a file, and a reader in another process holds a lock that stops the writer.
    So analysts read a copy: checkpoint (the file then holds every committed change), copy it beside the
    target, and rename it over the target. A reader with the old copy open keeps reading the old file (its
    inode lives until closed), a new connection gets the new one; nobody ever sees half a load.
    """
    source = Path(path)
    destination = Path(target) if target is not None else published_path_for(source)
    con = connect(source, lock_timeout_seconds=lock_timeout_seconds)
    try:
        if prepare is not None:
            prepare(con)
        con.execute("CHECKPOINT")
        partial = destination.with_name(destination.name + ".partial")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, partial)  # the writer is this process, idle: the file is consistent
    finally:
        con.close()
    os.replace(partial, destination)
    return destination
