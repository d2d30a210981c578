"""`interactions migrate --from`: a DuckDB file, or the export of one written by DuckDB 2.0.1, copied into a
lake table by table; the lake then equals the source, and its next refresh finds nothing to rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from interactions_etl import warehouse
from interactions_etl.staging import refresh_staging
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.conftest import build_warehouse
from tests.reliability.test_fault_matrix import assert_same_warehouse, snapshot
from tests.services import PostgresServer

EXPORT = Path(__file__).parent.parent / "fixtures" / "duckdb-2.0.1" / "export"
# What tests/fixtures/duckdb-2.0.1/README.md says the export was built from.
FIXTURE_TRAFFIC = TrafficConfig(days=2, per_day=400, n_documents=200, n_queries=40)


def migrate(source: Path, lake_env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "migrate", "--from", str(source)],
        capture_output=True, text=True, timeout=600, env=lake_env, cwd=cwd,
    )  # fmt: skip


def lake_env(postgres_server: PostgresServer, lake) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DUCKLAKE_", "WAREHOUSE_"))},
        "WAREHOUSE_BACKEND": "ducklake",
        "DUCKLAKE_CATALOG": lake.catalog,
        "DUCKLAKE_CATALOG_PASSWORD": postgres_server.password,
        "DUCKLAKE_DATA_PATH": lake.data_path,
    }


def test_the_export_of_a_duckdb_2_warehouse_moves_into_a_lake(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    here = tmp_path / "here.duckdb"  # the same records, built by this release's DuckDB
    build_warehouse(here, generate_traffic(FIXTURE_TRAFFIC).records(), "fixture")
    lake = postgres_server.lake(tmp_path / "lake-data")
    completed = migrate(EXPORT, lake_env(postgres_server, lake), tmp_path)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "raw.interactions: 840 rows" in completed.stdout
    assert_same_warehouse(snapshot(lake), snapshot(here))
    con = warehouse.connect(lake)
    try:
        assert refresh_staging(con).changed_days == []  # the copied watermark covers every copied load
    finally:
        con.close()
    again = migrate(EXPORT, lake_env(postgres_server, lake), tmp_path)  # into a lake that is not empty
    assert again.returncode != 0 and "already holds 840 interactions" in again.stderr
    assert again.stderr.count("\n") == 1


def test_a_duckdb_file_moves_into_a_lake(postgres_server: PostgresServer, tmp_path: Path) -> None:
    source = tmp_path / "warehouse.duckdb"
    build_warehouse(source, generate_traffic(FIXTURE_TRAFFIC).records(), "fixture")
    lake = postgres_server.lake(tmp_path / "lake-data")
    completed = migrate(source, lake_env(postgres_server, lake), tmp_path)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert_same_warehouse(snapshot(lake), snapshot(source))
