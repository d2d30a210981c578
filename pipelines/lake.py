"""The DuckLake backend (Dagster-free): the warehouse as a DuckLake whose catalog is a PostgreSQL database and
whose data are Parquet files in a directory or an S3 bucket (docs/scale.md).

Every connection is a DuckDB process-local database with the lake attached as `lake` and made the default, so
the SQL of sql/ (`raw.interactions`, `marts.ctr_by_position`, ...) runs unchanged on both backends. What differs
from the DuckDB file is said here, and chosen in pipelines/backends.py (`LakeWarehouse`):

- Opening: the extensions load from their Python packages (no download), the catalog's password and the S3 keys
  travel in DuckDB secrets, never in a connection string that an error message could repeat.
- Writers: many processes on many machines; a transaction that loses a race to another's commit on the same
  table fails at COMMIT and is retried (`retry_conflicts`), from data staged locally, not from the API.
- Readers: attach at a snapshot (`snapshot=`), so a build in progress is never half-visible and nothing is
  copied. `ducklake_*` maintenance (expiring snapshots, rewriting files, deleting old ones) reaches storage.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, TypeVar

import duckdb
from pydantic import SecretStr

if TYPE_CHECKING:
    from interactions_etl.settings import Settings

ALIAS = "lake"  # the lake's name inside each DuckDB connection (`lake.raw.interactions`), and the default
CATALOG_SECRET = "interactions_lake_catalog"
S3_SECRET = "interactions_lake_s3"


class LakeError(RuntimeError):
    """The lake could not be opened or used; the message is one line and never holds a secret."""


@dataclass(frozen=True)
class S3Storage:
    key_id: str | None = None
    secret: SecretStr | None = field(default=None, repr=False)
    endpoint: str | None = None  # host:port of an S3-compatible server; None: AWS
    region: str = "us-east-1"
    use_ssl: bool = True
    url_style: str = "vhost"


@dataclass(frozen=True)
class Lake:
    """Where a DuckLake lives: its PostgreSQL catalog (libpq keywords, no password) and its data path."""

    catalog: str
    data_path: str
    password: SecretStr | None = field(default=None, repr=False)
    s3: S3Storage | None = None

    def __str__(self) -> str:
        return f"the DuckLake with catalog '{self.catalog}' and data in {self.data_path}"

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith(("s3://", "s3a://"))


def lake_described_by(settings: Settings) -> Lake | None:
    """The lake the DUCKLAKE_* settings describe, or None where they name no catalog and data path (which
    backend is in use is pipelines/backends.py's to say)."""
    if not (settings.ducklake_catalog and settings.ducklake_data_path):
        return None
    return Lake(
        catalog=settings.ducklake_catalog,
        data_path=settings.ducklake_data_path,
        password=settings.ducklake_catalog_password,
        s3=S3Storage(
            key_id=settings.ducklake_s3_key_id,
            secret=settings.ducklake_s3_secret,
            endpoint=settings.ducklake_s3_endpoint,
            region=settings.ducklake_s3_region,
            use_ssl=settings.ducklake_s3_use_ssl,
            url_style=settings.ducklake_s3_url_style,
        ),
    )


def literal(text: str) -> str:
    """`text` as a SQL string literal: ATTACH, LOAD and CREATE SECRET take no bound parameters."""
    return "'" + text.replace("'", "''") + "'"


def extension_file(name: str) -> str:
    """The extension's binary inside its Python package (duckdb-extension-<name>), for this DuckDB."""
    package = resources.files(f"duckdb_extension_{name}")
    return str(package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")


def load_extensions(con: duckdb.DuckDBPyConnection, *, s3: bool) -> None:
    """LOAD the lake's extensions straight from their package files: nothing is downloaded, nothing written to
    ~/.duckdb, and DuckDB still checks each binary's signature."""
    for name in ("postgres_scanner", "ducklake", *(["httpfs"] if s3 else [])):
        con.execute(f"LOAD {literal(extension_file(name))}")


def _secret_sql(name: str, kind: str, options: dict[str, str | bool | None]) -> str:
    parts = [f"TYPE {kind}"]
    for key, value in options.items():
        if value is None:
            continue
        parts.append(f"{key} {str(value).lower() if isinstance(value, bool) else literal(value)}")
    return f"CREATE OR REPLACE TEMPORARY SECRET {name} ({', '.join(parts)})"


def _create_secrets(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    password = lake.password.get_secret_value() if lake.password else None
    statements = [_secret_sql(CATALOG_SECRET, "postgres", {"PASSWORD": password})]
    if lake.on_s3 and lake.s3 is not None:
        s3 = lake.s3
        statements.append(
            _secret_sql(
                S3_SECRET,
                "s3",
                {
                    "KEY_ID": s3.key_id,
                    "SECRET": s3.secret.get_secret_value() if s3.secret else None,
                    "ENDPOINT": s3.endpoint,
                    "REGION": s3.region,
                    "USE_SSL": s3.use_ssl,
                    "URL_STYLE": s3.url_style,
                    "SCOPE": lake.data_path,
                },
            )
        )
    for statement in statements:
        try:
            con.execute(statement)
        except duckdb.Error:
            # DuckDB's message may quote the statement, and with it the secret: say only what failed.
            raise LakeError(
                "the lake's credentials were refused by DuckDB (check the DUCKLAKE_* settings)"
            ) from None


def attach_sql(lake: Lake, *, read_only: bool = False, snapshot: int | None = None) -> str:
    """The ATTACH statement of the lake, without any secret (the secrets are created beforehand)."""
    options = [
        f"DATA_PATH {literal(lake.data_path)}",
        f"METADATA_PARAMETERS MAP {{'SECRET': '{CATALOG_SECRET}'}}",
    ]
    if snapshot is not None:
        options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    if read_only or snapshot is not None:
        options.append("READ_ONLY")
    return f"ATTACH {literal('ducklake:postgres:' + lake.catalog)} AS {ALIAS} ({', '.join(options)})"


def connect(
    lake: Lake,
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    snapshot: int | None = None,
    temp_directory: str | os.PathLike[str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as the default database (at `snapshot`: read-only, as the
    lake was when that snapshot committed)."""
    config: dict[str, str | bool] = {
        "autoinstall_known_extensions": False,  # no internet: every extension comes from its package
        "temp_directory": str(
            temp_directory or os.path.join(tempfile.gettempdir(), "interactions-duckdb-spill")
        ),
    }
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(config=config)
    try:
        load_extensions(con, s3=lake.on_s3)
        _create_secrets(con, lake)
        _attach(con, lake, read_only=read_only, snapshot=snapshot)
        con.execute(f"USE {ALIAS}")
        con.execute("SET TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con


def _attach(con: duckdb.DuckDBPyConnection, lake: Lake, *, read_only: bool, snapshot: int | None) -> None:
    """ATTACH, which creates the catalog's tables on a new lake. Processes that open a new lake at the same moment
    (the first parallel loads) race to create them: the losers see "already exists", and their next attempt
    finds the catalog the winner made."""
    for attempt in range(5):
        try:
            con.execute(attach_sql(lake, read_only=read_only, snapshot=snapshot))
            return
        except duckdb.Error as exc:
            if "already exists" not in str(exc) or attempt == 4:
                raise LakeError(f"could not open {lake}: {_reason(exc)}") from None
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DETACH {ALIAS}")
            time.sleep(0.2 * (attempt + 1))


def _reason(exc: duckdb.Error) -> str:
    """DuckDB's message in one line: PostgreSQL's own words where it gave them."""
    text = " ".join(str(exc).split())
    found = re.search(r"(FATAL|ERROR): +(.*)$", text)
    return found.group(2) if found else text[:300]


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The newest snapshot this connection's transaction sees."""
    return con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchone()[0]


def is_conflict(exc: BaseException) -> bool:
    """A commit that lost to another transaction's commit on the same table (DuckLake checks per table)."""
    return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()


T = TypeVar("T")


@dataclass
class ConflictStats:
    retries: int = 0
    waited_seconds: float = 0.0


def retry_conflicts(
    action: Callable[[], T],
    *,
    max_seconds: float = 600.0,
    stats: ConflictStats | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `action` (a whole transaction) again while it fails on a commit conflict, with jittered exponential
    pauses, for at most `max_seconds`. The action must start from data it holds (the day staged locally), so a
    retry costs a short transaction, not another fetch from the API."""
    deadline = time.monotonic() + max_seconds
    pause = 0.05
    while True:
        try:
            return action()
        except duckdb.TransactionException as exc:
            if not is_conflict(exc) or time.monotonic() + pause > deadline:
                raise
            wait = random.uniform(pause / 2, pause)
            if stats is not None:
                stats.retries += 1
                stats.waited_seconds += wait
            sleep(wait)
            pause = min(pause * 2, 2.0)


def publish_snapshot(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Record the snapshot a good build ended at, and return it: readers attach there (`connect(snapshot=)`),
    so they never see a later build half done, and nothing is copied. The record itself commits as the next
    snapshot, which changes no table a reader reads."""
    snapshot = current_snapshot(con)
    con.execute(
        "CREATE TABLE IF NOT EXISTS main.published_snapshots "
        "(snapshot_id BIGINT NOT NULL, published_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL)"
    )
    con.execute("INSERT INTO main.published_snapshots VALUES (?, now(), ?)", [snapshot, run_id])
    return snapshot


def published_snapshot(con: duckdb.DuckDBPyConnection) -> int | None:
    """The snapshot of the newest good build, or None before the first."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'published_snapshots'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute("SELECT max(snapshot_id) FROM main.published_snapshots").fetchone()[0]


def catalog_database(lake: Lake) -> str:
    """The catalog's database name (`dbname=`), to name the lake in reports and logs."""
    found = re.search(r"(?:^|\s)dbname\s*=\s*(\S+)", lake.catalog)
    return found.group(1) if found else "lake"


@dataclass(frozen=True)
class PurgeReport:
    files_rewritten: int  # data files rewritten without their deleted rows
    snapshots_expired: int
    files_deleted: int  # files no remaining snapshot references, removed from storage


def purge(
    con: duckdb.DuckDBPyConnection, *, older_than: datetime | None = None, keep: Sequence[int] = ()
) -> PurgeReport:
    """Make deletions reach storage. DuckLake deletes by recording which rows are gone; the rows stay in their
    Parquet files (and small inserts inline in the catalog) for every snapshot that still sees them. So:
    inlined rows go to files, every file with a deleted row is rewritten without it, snapshots committed
    before `older_than` (None: all but the current one) are expired except those in `keep` (the published
    build's), and the files no remaining snapshot references are deleted."""
    con.execute(f"CALL ducklake_flush_inlined_data('{ALIAS}')")
    rewritten = con.execute(f"CALL ducklake_rewrite_data_files('{ALIAS}', delete_threshold => 0)").fetchall()
    current = current_snapshot(con)
    expired = [
        row[0]
        for row in con.execute(
            f"SELECT snapshot_id FROM ducklake_snapshots('{ALIAS}') WHERE snapshot_id <> ? "
            "AND (CAST(? AS TIMESTAMPTZ) IS NULL OR snapshot_time < ?) AND NOT list_contains(?, snapshot_id)",
            [current, older_than, older_than, list(keep)],
        ).fetchall()
    ]
    if expired:
        con.execute(f"CALL ducklake_expire_snapshots('{ALIAS}', versions => ?)", [expired])
    deleted = con.execute(f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)").fetchall()
    return PurgeReport(
        files_rewritten=len(rewritten), snapshots_expired=len(expired), files_deleted=len(deleted)
    )


def connect_published(
    lake: Lake, *, memory_limit: str | None = None
) -> tuple[duckdb.DuckDBPyConnection, int | None]:
    """A read-only connection at the newest published build (the latest state before any), and its snapshot:
    what analysts and the report read."""
    con = connect(lake, read_only=True, memory_limit=memory_limit)
    snapshot = published_snapshot(con)
    if snapshot is None:
        return con, None
    con.close()
    return connect(lake, memory_limit=memory_limit, snapshot=snapshot), snapshot


def display_name(lake: Lake) -> str:
    """How reports and logs name the lake: by its catalog database, never by anything secret."""
    return f"DuckLake {catalog_database(lake)}"
