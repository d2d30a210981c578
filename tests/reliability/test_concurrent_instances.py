"""Issue 25: several `interactions load` started at once on one DAGSTER_HOME all run. The first open of a home
creates its SQLite storages and stamps their alembic revision; four processes doing that at once used to fail
with "Version table 'alembic_version' has more than one head present" (or a unique constraint on it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from interactions_etl.emulator.server import EmulatorServer
from tests.pipeline.conftest import API_KEY, DAY, NAMESPACE, fill, spread_over_day

PROCESSES = 4
RECORDS = 300  # a day each: the test is about the instance, not the load

# The CLI, once Dagster and the definitions are imported (seconds of CPU, which two cores spread over several
# seconds): each process says it is ready, then waits for the go file, so the four open the home together,
# not one after the other as their imports happen to finish. Without it the race was lost 1 run in 2.
BARRIER = """
import sys, time
from pathlib import Path
import dagster, interactions_etl.definitions
from interactions_etl.cli import main
ready, go = Path(sys.argv.pop(1)), Path(sys.argv.pop(1))
ready.touch()
while not go.exists():
    time.sleep(0.005)
main()
"""


def start_load(server: EmulatorServer, home: Path, folder: Path, day: str, go: Path) -> subprocess.Popen[str]:
    """`interactions load` for one day into its own warehouse file (so DuckDB's single writer is not what is
    tested), in its own folder (reports), on the shared Dagster home."""
    folder.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_", "WAREHOUSE_"))}
    env = {**clean, "MIXPEEK_BASE_URL": server.base_url, "MIXPEEK_API_KEY": API_KEY, "MIXPEEK_NAMESPACE": NAMESPACE,
           "MIXPEEK_REQUESTS_PER_SECOND": "500", "DAGSTER_HOME": str(home)}  # fmt: skip
    command = ["load", "--start", day, "--end", day, "--warehouse", str(folder / "w.duckdb")]
    return subprocess.Popen(
        [sys.executable, "-c", BARRIER, str(folder / "ready"), str(go), *command],
        env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("home_state", ["new", "existing"])
def test_four_loads_at_once_on_one_dagster_home(
    server: EmulatorServer, tmp_path: Path, home_state: str
) -> None:
    days = [DAY - timedelta(days=i) for i in range(PROCESSES)]
    for i, day in enumerate(days):
        fill(server, spread_over_day(RECORDS, day, start_index=i * RECORDS))
    home = tmp_path / "dagster_home"
    if home_state == "existing":  # created as `python3 dev.py dagster` creates it, before the four start
        subprocess.run([sys.executable, "-m", "interactions_etl.instance", str(home)], check=True, timeout=120,
                       capture_output=True)  # fmt: skip
    go = tmp_path / "go"
    started = time.monotonic()
    loads = [start_load(server, home, tmp_path / f"load{i}", d.isoformat(), go) for i, d in enumerate(days)]
    while not all((tmp_path / f"load{i}" / "ready").exists() for i in range(PROCESSES)):
        assert all(load.poll() is None for load in loads), "a load ended before the start"
        assert time.monotonic() - started < 90, "the loads did not get ready in 90 s"
        time.sleep(0.05)
    ready = time.monotonic()
    go.touch()
    outputs = [load.communicate(timeout=180)[0] for load in loads]
    failed = [
        out.strip().splitlines()[-1:] for load, out in zip(loads, outputs, strict=True) if load.returncode
    ]
    assert not failed, f"{len(failed)} of {PROCESSES} failed: {failed}"
    assert not any("Traceback" in output for output in outputs), outputs
    for i, day in enumerate(days):
        with duckdb.connect(str(tmp_path / f"load{i}" / "w.duckdb"), read_only=True) as con:
            landed = con.sql("SELECT partition_date, count(*) FROM raw.interactions GROUP BY ALL").fetchall()
        assert landed == [(day, RECORDS)]
    print(f"{PROCESSES} loads on a {home_state} home: ready in {ready - started:.1f} s, ran in "
          f"{time.monotonic() - ready:.1f} s")  # fmt: skip


def test_a_home_locked_too_long_is_one_line_naming_the_lock(tmp_path: Path) -> None:
    from interactions_etl.instance import LOCK_FILE, InstanceLockTimeout, ensure_dagster_home, instance_lock

    home = tmp_path / "dagster_home"
    home.mkdir()
    # flock belongs to an open file: this process holding the lock makes its second open wait, as another would.
    with instance_lock(home):
        started = time.monotonic()
        with pytest.raises(InstanceLockTimeout) as raised:
            ensure_dagster_home(home, lock_timeout_seconds=1)
        waited = time.monotonic() - started
    assert str(raised.value) == (
        f"{home / LOCK_FILE} is locked by another process (PID {os.getpid()}) creating or opening the Dagster "
        "instance; waited 1 s for it"
    )
    assert 1 <= waited < 10
    assert sorted(p.name for p in home.iterdir()) == [LOCK_FILE]  # nothing created while it waited
    ensure_dagster_home(home)  # the lock released, the home is created
    assert (home / "dagster.yaml").exists() and (home / "history" / "runs.db").exists()
