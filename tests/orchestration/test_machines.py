"""Beyond one machine, simulated with processes that share only PostgreSQL and the lake's data path.

- The control machine runs Dagster's webserver and daemon. Its instance (runs, events, schedules, pools) is in
  PostgreSQL (dagster-postgres); its environment holds the Dagster database's password and nothing else of the
  project: no API key, no warehouse settings.
- The worker machine serves the code location over gRPC (`dagster code-server start`) with the project's
  settings (the API, the lake). Dagster's default run launcher asks the code server to start each run, so the
  runs execute there, beside the settings they need.

The nightly schedule, switched on at the control machine, loads four days in parallel on the worker (the
runs overlap) and the sensor's refreshes follow one at a time; the shared run storage holds every run and
neither secret; the lake holds the days, the marts and a published snapshot.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interactions_etl import lake as lakes
from interactions_etl.instance import ensure_dagster_home
from mixpeek_emulator.server import EmulatorServer
from tests.orchestration.dagster_dev import (
    TERMINAL,
    DagsterDev,
    days_of_the_tick,
    emulator_with_last_days,
    free_port,
)
from tests.services import CATALOG_USER, PostgresServer

API_KEY = "sk_test_machines_90aa"
NAMESPACE = "ns_machines"
PER_DAY = 10_000  # loads of a few seconds: longer than a run's launch, so parallel runs visibly overlap
DAYS = 4
BIN = Path(sys.executable).parent


def instance_yaml(postgres: PostgresServer, database: str) -> str:
    return f"""\
storage:
  postgres:
    postgres_db:
      scheme: postgresql+psycopg2
      hostname: 127.0.0.1
      port: {postgres.port}
      username: {CATALOG_USER}
      password:
        env: DAGSTER_PG_PASSWORD
      db_name: {database}
concurrency:
  pools:
    default_limit: 1
    granularity: run
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_use_threads: true
    dequeue_num_workers: 4
telemetry:
  enabled: false
"""


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the code server exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the code server did not listen: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def emulator_with_last_four_days() -> Iterator[EmulatorServer]:
    with EmulatorServer(
        emulator_with_last_days(API_KEY, NAMESPACE, days=DAYS, per_day=PER_DAY, and_today=True)
    ) as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_runs_launched_from_the_control_machine_run_on_the_worker(
    emulator_with_last_four_days: EmulatorServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dagster_db = postgres_server.create_database()
    lake = postgres_server.lake(tmp_path / "shared-lake-data")
    control, worker = tmp_path / "control", tmp_path / "worker"
    for machine in (control, worker):
        (machine / "dagster_home").mkdir(parents=True)
        (machine / "dagster_home" / "dagster.yaml").write_text(instance_yaml(postgres_server, dagster_db))
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("MIXPEEK_", "DAGSTER_", "INTERACTIONS_", "WAREHOUSE_", "DUCKLAKE_"))}  # fmt: skip
    control_env = {**base, "DAGSTER_HOME": str(control / "dagster_home"),
                   "DAGSTER_PG_PASSWORD": postgres_server.password}  # fmt: skip
    worker_env = {
        **base,
        "DAGSTER_HOME": str(worker / "dagster_home"),
        "DAGSTER_PG_PASSWORD": postgres_server.password,
        "MIXPEEK_BASE_URL": emulator_with_last_four_days.base_url,
        "MIXPEEK_API_KEY": API_KEY,
        "MIXPEEK_NAMESPACE": NAMESPACE,
        "MIXPEEK_REQUESTS_PER_SECOND": "100",
        "WAREHOUSE_BACKEND": "ducklake",
        "DUCKLAKE_CATALOG": lake.catalog,
        "DUCKLAKE_CATALOG_PASSWORD": postgres_server.password,
        "DUCKLAKE_DATA_PATH": lake.data_path,
        "DUCKLAKE_PARALLEL_LOADS": str(DAYS),
        "INTERACTIONS_LOOKBACK_DAYS": str(DAYS - 1),
        "INTERACTIONS_NIGHTLY_CRON": "* * * * *",
        "REPORTS_DIR": str(worker / "reports"),
    }
    # The pools' limits live in the shared instance: set once, from either machine.
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", postgres_server.password)
    ensure_dagster_home(control / "dagster_home", parallel_loads=DAYS)
    grpc_port = free_port()
    (control / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
        "      location_name: interactions_etl\n"
    )
    code_log = worker / "code_server.log"
    code_server = subprocess.Popen(
        [str(BIN / "dagster"), "code-server", "start", "-m", "interactions_etl.definitions",
         "-h", "127.0.0.1", "-p", str(grpc_port)],
        cwd=worker, env=worker_env, stdout=code_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    daemon_log = control / "daemon.log"
    daemon = None
    webserver = None
    try:
        wait_for_port(grpc_port, code_server, code_log)
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(control / "workspace.yaml")],
            cwd=control, env=control_env, stdout=daemon_log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        webserver_command = [
            str(BIN / "dagster-webserver"),
            "-w",
            str(control / "workspace.yaml"),
            "-h",
            "127.0.0.1",
        ]
        webserver = DagsterDev(
            control_env,
            cwd=control,
            log_path=control / "webserver.log",
            command=lambda port: [*webserver_command, "-p", str(port)],
        )
        webserver.wait_ready(timeout=240)
        try:
            loads = webserver.one_tick(
                "nightly_interactions", "interactions_load_job", runs=DAYS, timeout=600
            )
        except (TimeoutError, RuntimeError) as stuck:
            # The daemon ticks, queues and launches the runs, the code server runs them: their tails first.
            tails = "".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}\n" for p in (daemon_log, code_log)
            )
            raise type(stuck)(f"{tails}{stuck}") from None
        last_load_end = max(float(r["endTime"] or 0) for r in loads)
        deadline, refreshes = time.monotonic() + 300, []
        while time.monotonic() < deadline:
            refreshes = webserver.runs("interactions_refresh_job")
            if (
                refreshes
                and all(r["status"] in TERMINAL for r in refreshes)
                and max(float(r["startTime"] or 0) for r in refreshes) >= last_load_end - 1
            ):
                break
            time.sleep(2)
        logs = "".join(
            p.read_text(errors="replace")
            for p in (code_log, daemon_log, control / "webserver.log")
            if p.exists()
        )
    finally:
        if webserver is not None:
            webserver.stop()
        for process in (daemon, code_server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, 15)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)

    assert [r["status"] for r in loads] == ["SUCCESS"] * DAYS, logs[-4000:]
    # The loads ran side by side (the pool `interactions_loads` allows four); the refreshes one at a time.
    intervals = sorted((float(r["startTime"] or 0), float(r["endTime"] or 0)) for r in loads)
    overlapping = sum(1 for a, b in itertools.combinations(intervals, 2) if a[0] < b[1] and b[0] < a[1])
    assert overlapping >= 1, f"the loads ran one after another: {intervals}"
    spans = sorted((float(r["startTime"] or 0), float(r["endTime"] or 0)) for r in refreshes)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
    assert refreshes and all(r["status"] == "SUCCESS" for r in refreshes), logs[-4000:]
    # The runs are in the shared PostgreSQL storage; neither machine's Dagster home holds a run database.
    stored = postgres_server.execute("SELECT count(*) FROM runs", dbname=dagster_db)[0][0]
    assert stored == len(loads) + len(refreshes)
    for machine in (control, worker):
        assert not list((machine / "dagster_home").rglob("*.db")), list((machine / "dagster_home").rglob("*"))
    assert postgres_server.password not in logs and API_KEY not in logs
    # Nor anywhere in Dagster's shared storage: runs, events and snapshots refer to the variables by name.
    stored = postgres_server.readable_values(dagster_db)
    assert b"DUCKLAKE_CATALOG_PASSWORD" in stored and b"MIXPEEK_API_KEY" in stored  # the control: names, read
    assert postgres_server.password.encode() not in stored and API_KEY.encode() not in stored
    expected = days_of_the_tick(loads, DAYS)
    con, published = lakes.connect_published(lake)
    try:
        days = {
            str(r[0]) for r in con.execute("SELECT DISTINCT partition_date FROM raw.interactions").fetchall()
        }
        mart_days = {str(r[0]) for r in con.execute("SELECT DISTINCT day FROM marts.search_ctr").fetchall()}
    finally:
        con.close()
    assert published is not None and days == expected and expected <= mart_days
    assert (worker / "reports" / "latest.html").exists()  # the report, written where the runs ran
    print(f"load runs overlapping: {overlapping} of 6 pairs; refresh runs: {len(refreshes)}")
