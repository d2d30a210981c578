"""Issue 32: the memory DuckDB may use is a setting, with a default from the machine, and running out of it is
one line that names the statement, the limit and the setting to raise, leaving the warehouse as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from interactions_etl import warehouse
from interactions_etl.memory import default_memory_limit, visible_memory_bytes
from interactions_etl.staging import refresh_staging
from interactions_etl.warehouse import WarehouseMemoryError
from tests.pipeline.conftest import API_KEY, DAY, NAMESPACE, fill, spread_over_day
from tests.reliability.test_fault_matrix import snapshot


def config_line(env: dict[str, str], variable: str) -> str:
    completed = subprocess.run([sys.executable, "-m", "interactions_etl.cli", "config"], env=env,
                               capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return next(line for line in completed.stdout.splitlines() if line.startswith(variable))


def test_the_limit_in_effect_is_half_the_visible_memory_unless_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAREHOUSE_")}
    expected = f"{visible_memory_bytes() // 2 // 2**20}MiB"
    assert default_memory_limit() == expected
    assert config_line(env, "WAREHOUSE_MEMORY_LIMIT").split()[1:] == [expected, "(default)"]
    assert config_line({**env, "WAREHOUSE_MEMORY_LIMIT": "3GB"}, "WAREHOUSE_MEMORY_LIMIT").split()[1:] == [
        "3GB",
        "(environment)",
    ]


def test_out_of_memory_in_a_refresh_is_one_line_and_changes_nothing(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from interactions_etl.landing import load_day
    from tests.pipeline.conftest import make_client

    next_day = DAY + timedelta(days=1)
    fill(server, spread_over_day(3000) + spread_over_day(3000, next_day, start_index=10_000))
    path = tmp_path / "w.duckdb"
    with make_client(server) as client:
        load_day(client, str(path), DAY, "run-memory")
        con = warehouse.connect(path)
        refresh_staging(con)
        con.close()
        load_day(client, str(path), next_day, "run-memory")  # a day for the next refresh to absorb
    before = snapshot(path)
    con = warehouse.connect(path, memory_limit="2MB")
    try:
        with pytest.raises(WarehouseMemoryError) as failure:
            refresh_staging(con)
    finally:
        con.close()
    message = str(failure.value)
    assert "\n" not in message and message.startswith("out of memory in sql/staging/"), message
    assert " used of a " in message and " limit): raise WAREHOUSE_MEMORY_LIMIT" in message
    assert snapshot(path) == before  # the refresh's transaction rolled back


def cli_env(server, tmp_path: Path, memory_limit: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The environment of an `interactions load` against the emulator, with its own Dagster home and limit."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_", "WAREHOUSE_"))},
        "MIXPEEK_BASE_URL": server.base_url,
        "MIXPEEK_API_KEY": API_KEY,
        "MIXPEEK_NAMESPACE": NAMESPACE,
        "MIXPEEK_REQUESTS_PER_SECOND": "500",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "WAREHOUSE_MEMORY_LIMIT": memory_limit,
    }


def test_out_of_memory_in_a_load_is_one_line_naming_the_step(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fill(server, spread_over_day(3000))
    env = cli_env(server, tmp_path, "2MB")
    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "load", "--start", DAY.isoformat(), "--end",
         DAY.isoformat(), "--warehouse", str(tmp_path / "w.duckdb")],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
    assert completed.returncode != 0 and len(errors) == 1, completed.stderr[-3000:]
    assert errors[0].startswith("error: raw_interactions: ") and "raise WAREHOUSE_MEMORY_LIMIT" in errors[0]
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "w.duckdb").exists()  # a first load that failed leaves no empty warehouse behind


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~50 s alone, 2 min beside other tests
def test_a_range_load_under_a_small_limit_completes_in_batches(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Six days of 30,000 interactions under a 96MB limit: staging's insert_result_slots over the six days in one
    statement runs out of memory (it did before issue 32, and does at 100MB), the refresh cut into batches of
    days that the limit holds (pipelines/batches.py; here a day each) completes (it does at 80MB)."""
    from mixpeek_emulator.prefill import prefill

    days = 6
    prefill(server.emulator, NAMESPACE, seed=32, start=DAY, days=days, per_day=30_000)
    env = cli_env(server, tmp_path, "96MB")
    path = tmp_path / "w.duckdb"
    last = DAY + timedelta(days=days - 1)
    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "load", "--start", DAY.isoformat(), "--end",
         last.isoformat(), "--warehouse", str(path)],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    con = warehouse.connect(path, read_only=True)
    try:
        executions, distinct, first, newest = con.sql(
            "SELECT count(*), count(DISTINCT execution_id), min(execution_date), max(execution_date) "
            "FROM staging.search_executions"
        ).fetchone()
        mart_days = con.sql("SELECT count(DISTINCT day) FROM marts.search_ctr").fetchone()
    finally:
        con.close()
    assert executions == distinct > 0 and (first, newest) == (DAY, last)
    assert mart_days == (days,)
