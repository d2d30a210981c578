"""Writers on one lake from anywhere (issue 25, item 3): four `interactions load` processes on one lake, started
at once, each with its own Dagster instance (nothing outside the lake serialises them), while a reader checks
every snapshot they publish.

The invariant: every published snapshot has marts equal to a rebuild from that snapshot's own raw rows, and a
run that exits 0 has published a snapshot holding its own day. Before the lake's writer lock, two of four runs
failed at COMMIT and the published marts missed days whose raw rows were committed.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from interactions_etl import lake as lakes
from interactions_etl import warehouse
from interactions_etl.estimators.position_bias import CurveSettings
from interactions_etl.lake import Lake
from interactions_etl.landing import load_day
from interactions_etl.marts import DAILY_MARTS, MartsSettings, refresh_marts
from interactions_etl.staging import refresh_staging
from mixpeek_emulator.app import Emulator, EmulatorConfig
from mixpeek_emulator.prefill import prefill
from mixpeek_emulator.server import EmulatorServer
from tests.lake.conftest import lake_cli_env
from tests.pipeline.conftest import API_KEY, NAMESPACE, make_client
from tests.reliability.test_fault_matrix import RUN_COLUMNS

START = date(2026, 10, 5)
FIRST, *DAYS = [START + timedelta(days=i) for i in range(5)]  # the first load makes the lake; four at once
PER_DAY = 1000
# The daily marts are exact functions of raw; the window fit's bootstrap is not rebuilt (nor compared).
REBUILD = MartsSettings(curve=CurveSettings(bootstrap_replicates=0))


def _value(value: Any) -> Any:
    # Doubles are sums that DuckDB may add in another order: compare to 9 significant digits.
    return float(f"{value:.9g}") if isinstance(value, float) and math.isfinite(value) else value


def daily_marts(con: Any) -> dict[str, list[tuple]]:
    result = {}
    for name in DAILY_MARTS:
        columns = [c[0] for c in con.execute(f"DESCRIBE marts.{name}").fetchall() if c[0] not in RUN_COLUMNS]
        listed = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f"SELECT {listed} FROM marts.{name} ORDER BY ALL").fetchall()
        result[name] = [tuple(_value(v) for v in row) for row in rows]
    return result


def check_snapshot(lake: Lake, snapshot: int, scratch: Path) -> tuple[set[date], list[str]]:
    """The days raw holds at `snapshot`, and the daily marts that differ from a rebuild of its raw rows."""
    con = warehouse.connect(lake, snapshot=snapshot)
    rebuilt = scratch / f"rebuild-{snapshot}.duckdb"
    try:
        days = {
            row[0] for row in con.execute("SELECT DISTINCT partition_date FROM raw.interactions").fetchall()
        }
        published = daily_marts(con)
        copy = warehouse.connect(rebuilt)
        warehouse.ensure_raw_tables(copy)
        copy.close()
        warehouse.attach(con, rebuilt, "rebuild", read_only=False)
        con.execute("INSERT INTO rebuild.raw.interactions BY NAME SELECT * FROM raw.interactions")
        con.execute("DETACH rebuild")
    finally:
        con.close()
    copy = warehouse.connect(rebuilt)
    try:
        refresh_staging(copy, full=True)
        refresh_marts(copy, REBUILD, full=True)
        expected = daily_marts(copy)
    finally:
        copy.close()
        rebuilt.unlink()
    differ = [
        f"marts.{name}: {sum(a != b for a, b in zip(published[name], expected[name], strict=False))} rows of "
        f"{len(expected[name])} differ ({len(published[name])} published)"
        for name in DAILY_MARTS
        if published[name] != expected[name]
    ]
    return days, differ


class SnapshotChecker(threading.Thread):
    """Polls main.published_snapshots while the loads run, as a reader would, and checks each new snapshot."""

    def __init__(self, lake: Lake, scratch: Path) -> None:
        super().__init__(daemon=True)
        self.lake, self.scratch, self.stop = lake, scratch, threading.Event()
        self.checked: dict[int, tuple[set[date], list[str]]] = {}
        self.errors: list[str] = []

    def published(self) -> dict[int, str]:
        con = warehouse.connect(self.lake, read_only=True)
        try:
            return dict(con.execute("SELECT snapshot_id, run_id FROM main.published_snapshots").fetchall())
        finally:
            con.close()

    def sweep(self) -> None:
        for snapshot in sorted(set(self.published()) - set(self.checked)):
            self.checked[snapshot] = check_snapshot(self.lake, snapshot, self.scratch)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.sweep()
            except Exception as exc:  # recorded, and the test fails on it
                self.errors.append(repr(exc))
            time.sleep(0.2)


def cli_env(server: EmulatorServer, lake: Lake, home: Path) -> dict[str, str]:
    return lake_cli_env(server, lake, home / ".dagster_home")  # each process a home of its own


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_four_cli_loads_publish_consistent_snapshots(new_lake: Callable[[], Lake], tmp_path: Path) -> None:
    emulator = Emulator(EmulatorConfig(api_keys={API_KEY: None}, namespaces=[NAMESPACE]))
    prefill(emulator, NAMESPACE, seed=41, start=START, days=5, per_day=PER_DAY)
    server = EmulatorServer(emulator).start()
    scratch = Path(tempfile.mkdtemp(prefix="rebuild-", dir=tmp_path))
    try:
        lake = new_lake()
        # The first load makes the lake, as a first `interactions load` would: the day, staging, the marts and
        # a published snapshot.
        with make_client(server) as api:
            load_day(api, lake, FIRST, "first", page_size=1000)
        con = warehouse.connect(lake)
        try:
            refresh_staging(con)
            refresh_marts(con, REBUILD)
            lakes.publish_snapshot(con, "first")
        finally:
            con.close()
        checker = SnapshotChecker(lake, scratch)
        checker.start()
        started = time.monotonic()
        try:
            processes = {}
            for day in DAYS:
                home = tmp_path / f"run-{day}"
                home.mkdir()
                processes[day] = subprocess.Popen(
                    [sys.executable, "-m", "interactions_etl.cli", "load", "--start", day.isoformat(),
                     "--end", day.isoformat()],
                    env=cli_env(server, lake, home), cwd=home, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                )  # fmt: skip
            outputs = {day: process.communicate(timeout=480)[0] for day, process in processes.items()}
            codes = {day: process.returncode for day, process in processes.items()}
        finally:
            checker.stop.set()
            checker.join(timeout=120)
        seconds = time.monotonic() - started
        checker.sweep()  # snapshots published after the checker's last look
    finally:
        server.stop()

    failed = {day: outputs[day].strip().splitlines()[-1:] for day, code in codes.items() if code != 0}
    assert not failed, f"runs that did not exit 0: {failed}"
    assert not checker.errors, checker.errors[:3]
    published = checker.published()
    disagreeing = {snapshot: differ for snapshot, (_, differ) in checker.checked.items() if differ}
    assert not disagreeing, (
        f"published snapshots whose marts are not a rebuild of their raw rows: {disagreeing}"
    )
    for day in DAYS:  # each run's own snapshot holds its own day
        run_id = re.search(r"run (\S+) succeeded", outputs[day])
        assert run_id, outputs[day][-2000:]
        own = [snapshot for snapshot, run in published.items() if run == run_id.group(1)]
        assert own, f"the run of {day} published no snapshot"
        assert all(day in checker.checked[snapshot][0] for snapshot in own), (day, own)
    newest = max(published)
    assert checker.checked[newest][0] == {FIRST, *DAYS}
    print(f"four CLI loads in {seconds:.0f} s; {len(checker.checked)} published snapshots checked")
