"""A real `dagster dev` (webserver + daemon) in a subprocess on a free loopback port, driven through its
GraphQL API as the UI drives it. It is started as `dg dev`, Dagster's current command for it (the same
webserver and daemon; `dagster dev` itself now prints a SupersessionWarning pointing to `dg dev`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from interactions_etl.instance import ensure_dagster_home
from mixpeek_emulator.app import Emulator, EmulatorConfig
from mixpeek_emulator.prefill import prefill
from mixpeek_emulator.ratelimit import RateLimit

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "interactions_etl"  # workspace.yaml and [tool.dg.project] name it
REPOSITORY = "__repository__"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def emulator_with_last_days(
    api_key: str, namespace: str, *, days: int, per_day: int, and_today: bool = False
) -> Emulator:
    """An emulator at the pro tier holding the `days` UTC days that end yesterday: what a tick asks for. With
    `and_today`, today too, so that a tick after midnight (a test started before it) finds its days as well."""
    emulator = Emulator(
        EmulatorConfig(api_keys={api_key: None}, namespaces=[namespace], rate_limit=RateLimit.tier("pro"))
    )
    first = datetime.now(UTC).date() - timedelta(days=days)
    prefill(emulator, namespace, seed=11, start=first, days=days + (1 if and_today else 0), per_day=per_day)
    return emulator


def days_of_the_tick(runs: list[dict[str, Any]], days: int) -> set[str]:
    """The days a nightly tick asks for: the `days` UTC days before the date of the tick that made `runs` (not
    the date now, which may be the next day: a tick at 23:59, runs ending after midnight)."""
    tick = datetime.fromtimestamp(min(run["creationTime"] for run in runs), UTC).date()
    return {(tick - timedelta(days=back)).isoformat() for back in range(1, days + 1)}


def deployment_env(base_url: str, api_key: str, namespace: str, folder: Path) -> dict[str, str]:
    """What a data team sets: the API and the paths. Everything else (INTERACTIONS_START_DATE included) at its
    default, but the cron: every minute, so the daemon ticks within minutes instead of at 02:00."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_", "INTERACTIONS_"))}
    return {
        **env,
        "DAGSTER_HOME": str(ensure_dagster_home(folder / "dagster_home")),
        "MIXPEEK_BASE_URL": base_url,
        "MIXPEEK_API_KEY": api_key,
        "MIXPEEK_NAMESPACE": namespace,
        "MIXPEEK_REQUESTS_PER_SECOND": "100",
        "WAREHOUSE_PATH": str(folder / "warehouse.duckdb"),
        "REPORTS_DIR": str(folder / "reports"),
        "INTERACTIONS_NIGHTLY_CRON": "* * * * *",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def describe_runs(runs: list[dict[str, Any]]) -> str:
    """A line per run: its partition, status and times (UTC), to read a stuck queue from a failure's tail."""

    def clock(stamp: float | None) -> str:
        return datetime.fromtimestamp(stamp, UTC).strftime("%H:%M:%S") if stamp else "-"

    return (
        "\n".join(
            f"  {run['runId'][:8]} {run['tags'].get('dagster/partition', '-')} {run['status']}"
            f" created {clock(run['creationTime'])} started {clock(run['startTime'])} ended {clock(run['endTime'])}"
            for run in sorted(runs, key=lambda run: run["creationTime"] or 0)
        )
        or "  (none)"
    )


class DagsterDev:
    """`dg dev` by default; `command(port)` gives another process serving the UI's GraphQL on that port (the
    webserver of a deployment, tests/orchestration/test_machines.py)."""

    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        command: Callable[[int], list[str]] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.log_path = log_path
        dg = str(Path(sys.executable).with_name("dg"))
        self._log = log_path.open("wb")
        env = {**env, "VIRTUAL_ENV": sys.prefix}  # as `source .venv/bin/activate` (dev.py) sets it
        argv = (
            command(self.port)
            if command
            else [dg, "dev", "--target-path", str(ROOT), "-h", "127.0.0.1", "-p", str(self.port)]
        )
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited: {self.output()[-3000:]}")
            try:
                data = self.graphql(
                    "query($selector: RepositorySelector!) { repositoryOrError(repositorySelector: $selector)"
                    " { __typename } }",
                    {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}},
                )
                if data["repositoryOrError"]["__typename"] == "Repository":
                    return
            except (httpx.HTTPError, KeyError, RuntimeError):
                pass
            time.sleep(1)
        raise TimeoutError(f"dagster dev not ready after {timeout} s: {self.output()[-3000:]}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = httpx.post(self.url, json={"query": query, "variables": variables or {}}, timeout=60)
        answer.raise_for_status()
        body = answer.json()
        if body.get("errors"):
            raise RuntimeError(str(body["errors"]))
        return body["data"]

    def start_schedule(self, name: str) -> str:
        data = self.graphql(
            """mutation($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
                 __typename ... on ScheduleStateResult { scheduleState { id status } }
                 ... on PythonError { message } } }""",
            {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                          "scheduleName": name}},
        )["startSchedule"]  # fmt: skip
        assert data["__typename"] == "ScheduleStateResult", data
        return data["scheduleState"]["id"]

    def stop_schedule(self, state_id: str) -> None:
        self.graphql(
            "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }", {"id": state_id}
        )

    def runs(self, job_name: str) -> list[dict[str, Any]]:
        data = self.graphql(
            """query($job: String) { runsOrError(filter: {pipelineName: $job}) { ... on Runs { results {
                 runId status creationTime startTime endTime tags { key value } } } } }""",
            {"job": job_name},
        )
        runs = data["runsOrError"]["results"]
        for run in runs:
            run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
        return runs

    def wait_for_runs(self, job_name: str, run_ids: set[str], deadline: float) -> list[dict[str, Any]]:
        """The job's runs `run_ids` once all of them have finished (by `deadline`, a time.monotonic())."""
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = [run for run in self.runs(job_name) if run["runId"] in run_ids]
            if len(runs) == len(run_ids) and all(run["status"] in TERMINAL for run in runs):
                return runs
            time.sleep(2)
        # The runs last: CI keeps the tail of a failure's output.
        raise TimeoutError(
            f"{self.output()[-4000:]}\n{job_name}: {len(runs)} of {len(run_ids)} runs, not all finished:\n"
            f"{describe_runs(self.runs(job_name))}"
        )

    def schedule_ticks(self, name: str) -> list[dict[str, Any]]:
        """The schedule's ticks, oldest first: status, run ids, error."""
        data = self.graphql(
            """query($selector: ScheduleSelector!) { scheduleOrError(scheduleSelector: $selector) {
                 __typename ... on Schedule { scheduleState { ticks(limit: 20) {
                   tickId status timestamp runIds error { message } } } } } }""",
            {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                          "scheduleName": name}},
        )["scheduleOrError"]  # fmt: skip
        assert data["__typename"] == "Schedule", data
        return sorted(data["scheduleState"]["ticks"], key=lambda tick: tick["timestamp"])

    def one_tick(self, schedule: str, job_name: str, runs: int, timeout: float) -> list[dict[str, Any]]:
        """Switch the schedule on until its first tick has queued its `runs` runs, switch it off, and wait for
        those runs to finish. The tests' cron ticks every minute and each tick queues a new set of runs (a
        schedule's run keys are unique within a tick, not across ticks): on a busy machine the sets came faster
        than they ran, and waiting for every run of the job never ended (CI, 2026-12-01)."""
        deadline = time.monotonic() + timeout
        state = self.start_schedule(schedule)
        switched_on = datetime.now(UTC)
        first: dict[str, Any] | None = None
        try:
            while first is None and time.monotonic() < deadline:
                done = [tick for tick in self.schedule_ticks(schedule) if tick["status"] != "STARTED"]
                if not done:
                    time.sleep(2)
                    continue
                first = done[0]
                if first["status"] != "SUCCESS" or len(first["runIds"]) != runs:
                    raise RuntimeError(
                        f"{self.output()[-4000:]}\n{schedule}'s first tick, not {runs} runs: {first}"
                    )
        finally:
            self.stop_schedule(state)
        if first is None:
            raise TimeoutError(
                f"{self.output()[-4000:]}\n{schedule} switched on at {switched_on:%H:%M:%S}: no tick queued"
                f" {runs} runs by {datetime.now(UTC):%H:%M:%S}: {self.schedule_ticks(schedule)}"
            )
        return self.wait_for_runs(job_name, set(first["runIds"]), deadline)

    def step_seconds(self, run_id: str) -> dict[str, float]:
        """Each step's wall time in a run."""
        data = self.graphql(
            """query($id: ID!) { runOrError(runId: $id) { ... on Run { stepStats {
                 stepKey startTime endTime } } } }""",
            {"id": run_id},
        )
        return {
            step["stepKey"]: (step["endTime"] or 0) - (step["startTime"] or 0)
            for step in data["runOrError"]["stepStats"]
        }

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log.close()
