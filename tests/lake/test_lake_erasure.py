"""`interactions forget-user` on the lake: afterwards its tables are those built without the user, and no
data file and no row of the catalog holds the id: the files were rewritten, older snapshots expired (no time
travel back to the user) and unreferenced files deleted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest

from interactions_etl import lake as lakes
from interactions_etl import warehouse
from interactions_etl.lake import Lake, LakeError, catalog_database
from interactions_etl.landing import land_records
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.conftest import refresh_downstream
from tests.reliability.test_fault_matrix import assert_same_warehouse, snapshot
from tests.services import PostgresServer

CONFIG = TrafficConfig(seed=31, start=date(2026, 10, 5), days=3, per_day=4000)


def files_holding(folder: Path, needle: str) -> list[Path]:
    """Data files holding `needle` in their bytes or in any value once decoded (Parquet compresses)."""
    found = []
    con = duckdb.connect()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if needle.encode() in path.read_bytes():
            found.append(path)
        elif path.suffix == ".parquet":
            rows = con.execute(
                "SELECT count(*) FROM (SELECT CAST(t AS VARCHAR) AS row_text FROM read_parquet(?) AS t) "
                "WHERE contains(row_text, ?)",
                [str(path), needle],
            ).fetchone()[0]
            if rows:
                found.append(path)
    con.close()
    return found


def test_forget_user_reaches_the_lakes_files_and_catalog(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    records = list(generate_traffic(CONFIG).records())
    user, count = Counter(r["user_id"] for r in records if r["user_id"]).most_common(1)[0]
    without = tmp_path / "without.duckdb"
    land_records(without, [r for r in records if r["user_id"] != user], "erasure-test")
    refresh_downstream(without)
    data = tmp_path / "lake-data"
    lake = postgres_server.lake(data)
    land_records(lake, records, "erasure-test")
    refresh_downstream(lake)
    con = warehouse.connect(lake)
    con.execute(
        "INSERT INTO raw.rejected_interactions (partition_date, interaction_id, reason, raw_json, loaded_at, run_id) VALUES (DATE '2026-10-05', NULL, 'test', ?, now(), 'r')",
        ['{"user_id": "' + user + '", "position": "oops"'],
    )  # a quarantined record of theirs: inlined in the catalog, being small
    before = lakes.publish_snapshot(con, "before")
    con.close()
    catalog = catalog_database(lake)
    assert files_holding(data, user) and user in postgres_server.dump(catalog)  # the controls

    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DUCKLAKE_", "WAREHOUSE_", "DAGSTER_HOME"))
        },
        "WAREHOUSE_BACKEND": "ducklake",
        "DUCKLAKE_CATALOG": lake.catalog,
        "DUCKLAKE_CATALOG_PASSWORD": postgres_server.password,
        "DUCKLAKE_DATA_PATH": lake.data_path,
    }
    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "forget-user", user],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert f"erased {count:,} interactions and 1 quarantined" in completed.stdout
    assert postgres_server.password not in completed.stdout + completed.stderr

    assert_same_warehouse(snapshot(lake), snapshot(without))
    assert files_holding(data, user) == []
    assert user not in postgres_server.dump(catalog)
    # Readers attach at the published build, the first without the user; the snapshot before is gone.
    con, published = lakes.connect_published(lake)
    try:
        assert published is not None and published > before
        assert (
            con.execute("SELECT count(*) FROM raw.interactions WHERE user_id = ?", [user]).fetchone()[0] == 0
        )
    finally:
        con.close()
    with pytest.raises(LakeError):
        warehouse.connect(lake, snapshot=before).close()


def test_a_purge_keeps_the_published_snapshot(new_lake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The nightly maintenance expires snapshots older than the retention, except the one readers attach at."""
    lake: Lake = new_lake()
    con = warehouse.connect(lake)
    try:
        warehouse.ensure_raw_tables(con)
        con.execute("CREATE TABLE main.t AS SELECT range AS i FROM range(10)")
        published = lakes.publish_snapshot(con, "run-1")
        for i in range(3):
            con.execute("INSERT INTO main.t VALUES (?)", [100 + i])
        report = lakes.purge(con, older_than=None, keep=[published])
        assert report.snapshots_expired > 0
        remaining = [
            r[0] for r in con.execute("SELECT snapshot_id FROM ducklake_snapshots('lake')").fetchall()
        ]
        assert published in remaining and len(remaining) == 2  # the published and the current
    finally:
        con.close()
    reader = warehouse.connect(lake, snapshot=published)
    try:
        assert reader.execute("SELECT count(*) FROM main.t").fetchone()[0] == 10
    finally:
        reader.close()
