"""The nightly as deployed: `dagster dev` (webserver and daemon) with the project's default settings, the
schedule switched on through GraphQL as the UI does it, its tick's three runs queued and run by the daemon."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from mixpeek_emulator.server import EmulatorServer
from tests.orchestration.dagster_dev import (
    DagsterDev,
    days_of_the_tick,
    deployment_env,
    emulator_with_last_days,
)

API_KEY = "sk_test_nightly_7e3a9b"
NAMESPACE = "ns_nightly"
PER_DAY = 3000


@pytest.fixture
def emulator_with_last_three_days() -> Iterator[EmulatorServer]:
    with EmulatorServer(
        emulator_with_last_days(API_KEY, NAMESPACE, days=3, per_day=PER_DAY, and_today=True)
    ) as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_schedule_tick_under_dagster_dev_refreshes_everything(
    emulator_with_last_three_days: EmulatorServer, tmp_path: Path
) -> None:
    env = deployment_env(emulator_with_last_three_days.base_url, API_KEY, NAMESPACE, tmp_path)
    started = time.time()
    dev = DagsterDev(env, cwd=tmp_path, log_path=tmp_path / "dagster_dev.log")
    try:
        dev.wait_ready(timeout=240)
        runs = dev.one_tick("nightly_interactions", "interactions_job", runs=3, timeout=600)
        log = dev.output()
    finally:
        dev.stop()

    expected_days = days_of_the_tick(runs, 3)
    assert {run["tags"].get("dagster/partition") for run in runs} == expected_days, runs
    assert all(run["tags"].get("dagster/schedule_name") == "nightly_interactions" for run in runs)
    assert [run["status"] for run in runs] == ["SUCCESS"] * 3, log[-4000:]
    # The pool queued them: no two runs were in progress at once, so none met another's file lock.
    intervals = sorted((run["startTime"], run["endTime"]) for run in runs)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(intervals))
    assert "Could not set lock" not in log

    # Everything downstream, in the file analysts open.
    published = duckdb.connect(str(tmp_path / "warehouse.published.duckdb"), read_only=True)
    try:
        query = published.execute
        loaded = {
            str(row[0]) for row in query("SELECT DISTINCT partition_date FROM raw.interactions").fetchall()
        }
        mart_days = {str(row[0]) for row in query("SELECT DISTINCT day FROM marts.search_ctr").fetchall()}
        fitted = query("SELECT count(*) FROM marts.position_bias WHERE segment_type = 'all'").fetchone()[0]
        raw_rows = query("SELECT count(*) FROM raw.interactions").fetchone()[0]
    finally:
        published.close()
    assert loaded == expected_days
    assert expected_days <= mart_days
    assert fitted > 0 and raw_rows > 2 * PER_DAY
    latest = tmp_path / "reports" / "latest.html"
    assert latest.exists() and latest.stat().st_mtime >= started
    # A clean start, and the key nowhere in what Dagster printed.
    for noise in ("BetaWarning", "SupersessionWarning", "PreviewWarning", API_KEY):
        assert noise not in log
