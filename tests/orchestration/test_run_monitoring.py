"""Runs that stop making progress do not hold the queue: under `dg dev`, with the project's instance.

- A run whose process is killed (SIGKILL, as the out-of-memory killer does) fails at once: Dagster's code server
  sees its child die and says so in the run's log.
- A run that goes on and on (here the API answers each page after 50 s, inside the client's 60 s timeout) is what
  run monitoring is for (pipelines/dagster.yaml): the daemon cancels it once it has run
  INTERACTIONS_MAX_RUN_SECONDS, and the run waiting behind it in the warehouse's pool then runs. Without the
  limit such a run would hold the pool for as long as it lasts (a run whose code server went away, for good),
  and every later run, the nightly ones too, would wait behind it."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from mixpeek_emulator.faults import FaultConfig
from mixpeek_emulator.server import EmulatorServer
from tests.orchestration.dagster_dev import (
    LOCATION,
    REPOSITORY,
    DagsterDev,
    deployment_env,
    describe_runs,
    emulator_with_last_days,
)

API_KEY = "sk_test_monitoring_4c1d"
NAMESPACE = "ns_monitoring"
JOB = "interactions_job"
MAX_RUN_SECONDS = 30  # the limit under test; the daemon looks every POLL_SECONDS
POLL_SECONDS = 2
CANCEL_SECONDS = 5  # how long a cancelled run may take to stop before it is marked so anyway


@pytest.fixture
def slow_emulator() -> Iterator[EmulatorServer]:
    emulator = emulator_with_last_days(API_KEY, NAMESPACE, days=2, per_day=2000, and_today=True)
    # Every page takes a second: the first run is surely still loading when its process is killed.
    emulator.faults.configure(FaultConfig(latency_ms=1000, scope="list"))
    with EmulatorServer(emulator) as server:
        yield server


def watch_closely(dagster_home: Path) -> None:
    """The project's instance, but the daemon looks every few seconds instead of every two minutes."""
    config = dagster_home / "dagster.yaml"
    text = config.read_text()
    for key, value in (("poll_interval_seconds", POLL_SECONDS), ("cancel_timeout_seconds", CANCEL_SECONDS)):
        text, replaced = re.subn(rf"{key}: \d+", f"{key}: {value}", text)
        assert replaced == 1, f"pipelines/dagster.yaml sets no {key}"
    config.write_text(text)


def launch(dev: DagsterDev, day: str, **tags: str) -> str:
    """A partition's run, launched as the UI's Materialize does it: into the queue."""
    run_tags = [{"key": "dagster/partition", "value": day}] + [
        {"key": k, "value": v} for k, v in tags.items()
    ]
    data = dev.graphql(
        """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
             ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {"params": {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": JOB},
            "executionMetadata": {"tags": run_tags},
        }},
    )["launchRun"]  # fmt: skip
    assert data["__typename"] == "LaunchRunSuccess", data
    return data["run"]["runId"]


def run_of(dev: DagsterDev, run_id: str) -> dict:
    (run,) = [run for run in dev.runs(JOB) if run["runId"] == run_id]
    return run


def messages(dev: DagsterDev, run_id: str) -> list[str]:
    data = dev.graphql(
        """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
             ... on MessageEvent { message } } } } }""",
        {"id": run_id},
    )
    return [event.get("message") or "" for event in data["logsForRun"]["events"]]


def worker_pid(dev: DagsterDev, run_id: str, deadline: float) -> int:
    """The run's process, once the run has started and said which it is."""
    while time.monotonic() < deadline:
        for message in messages(dev, run_id):
            found = re.search(r"Started process for run \(pid: (\d+)\)", message)
            if found:
                return int(found.group(1))
        time.sleep(1)
    raise TimeoutError(f"{dev.output()[-3000:]}\nrun {run_id} never started:\n{describe_runs(dev.runs(JOB))}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_run_fails_and_a_hung_one_is_cancelled_so_the_next_run_goes(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = deployment_env(slow_emulator.base_url, API_KEY, NAMESPACE, tmp_path)
    env["INTERACTIONS_MAX_RUN_SECONDS"] = str(MAX_RUN_SECONDS)
    watch_closely(Path(env["DAGSTER_HOME"]))
    # The emulator holds today too (and_today): both days are there, and complete, even if midnight passed since.
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    stuck_day, next_day = (yesterday - timedelta(days=1)).isoformat(), yesterday.isoformat()
    dev = DagsterDev(env, cwd=tmp_path, log_path=tmp_path / "dagster_dev.log")
    try:
        dev.wait_ready(timeout=240)
        deadline = time.monotonic() + 420
        killed = launch(dev, stuck_day)
        os.kill(worker_pid(dev, killed, deadline), signal.SIGKILL)
        (crashed,) = dev.wait_for_runs(JOB, {killed}, time.monotonic() + 60)
        crash_log = messages(dev, killed)

        slow_emulator.emulator.faults.configure(FaultConfig(latency_ms=50_000, scope="list"))
        hung = launch(dev, stuck_day)
        worker_pid(dev, hung, deadline)
        # Queued behind it: the warehouse's pool runs one run at a time. Its own limit (Dagster's per-run tag)
        # is generous: on a busy host a whole day's load can take longer than the 30 s under test.
        waiting = launch(dev, next_day, **{"dagster/max_runtime": "400"})
        time.sleep(5)
        assert run_of(dev, hung)["status"] == "STARTED", "\n".join(messages(dev, hung)[-6:])
        assert run_of(dev, waiting)["status"] == "QUEUED"
        while run_of(dev, hung)["status"] == "STARTED" and time.monotonic() < deadline:
            time.sleep(1)
        slow_emulator.emulator.faults.configure(FaultConfig())  # the API is quick again for the next run
        (ended,) = dev.wait_for_runs(JOB, {hung}, deadline)
        (after,) = dev.wait_for_runs(JOB, {waiting}, deadline)
        hang_log = messages(dev, hung)
        after_log = messages(dev, waiting)
    finally:
        dev.stop()

    assert crashed["status"] == "FAILURE", describe_runs([crashed])
    assert any("SIGKILL" in m for m in crash_log), crash_log[-6:]

    assert ended["status"] in {"FAILURE", "CANCELED"}, describe_runs([ended])
    assert any(f"maximum runtime of {MAX_RUN_SECONDS} seconds" in m for m in hang_log), hang_log[-6:]
    # Ended by the limit, not sooner, and within the daemon's looks and the cancel wait after it.
    took = ended["endTime"] - ended["startTime"]
    assert MAX_RUN_SECONDS <= took <= MAX_RUN_SECONDS + 6 * POLL_SECONDS + CANCEL_SECONDS + 60, took
    assert after["status"] == "SUCCESS", "\n".join(after_log[-12:]) + describe_runs([ended, after])
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        days = con.execute("SELECT DISTINCT partition_date::VARCHAR FROM raw.interactions").fetchall()
    finally:
        con.close()
    assert days == [(next_day,)]  # neither cut-off load committed anything; the next one landed its day
