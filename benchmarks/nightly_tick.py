"""The nightly under Dagster: the wall time of one tick of `nightly_interactions` as deployed.

An emulator (pro tier: 100 requests/s) holds the last three UTC days of generated traffic; `dg dev` (webserver
and daemon, the project's dagster.yaml and pool) runs with the schedule's cron set to every minute; the schedule
is switched on through GraphQL, as the UI does. The tick asks for three runs (yesterday and the two days
before); the warehouse pool queues them one at a time, and each loads its day, then refreshes staging, the
marts, the report and the analysts' copy. Measured: from the tick (the first run's creation) to the end of the
last run, and each run's queue wait and duration.

    python3 dev.py run python benchmarks/nightly_tick.py --per-day 50000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the GraphQL driver lives with the tests

from mixpeek_emulator.server import EmulatorServer
from tests.orchestration.dagster_dev import DagsterDev, deployment_env, emulator_with_last_days

API_KEY = "sk_bench_nightly_tick"
NAMESPACE = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-day", type=int, default=50_000, help="interactions per day")
    args = parser.parse_args()

    emulator = emulator_with_last_days(API_KEY, NAMESPACE, days=3, per_day=args.per_day)
    with tempfile.TemporaryDirectory(prefix="nightly-tick-") as scratch, EmulatorServer(emulator) as server:
        tmp = Path(scratch)
        env = deployment_env(server.base_url, API_KEY, NAMESPACE, tmp)
        dev = DagsterDev(env, cwd=tmp, log_path=tmp / "dagster_dev.log")
        try:
            dev.wait_ready(timeout=300)
            runs = dev.one_tick("nightly_interactions", "interactions_job", runs=3, timeout=1800)
            for run in runs:
                run["steps"] = dev.step_seconds(run["runId"])
        finally:
            dev.stop()
        published_mib = (tmp / "warehouse.published.duckdb").stat().st_size / 2**20

    runs.sort(key=lambda run: run["tags"]["dagster/partition"])
    tick = min(run["creationTime"] for run in runs)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.per_day:,} interactions a day, pro tier (100 req/s)"
    )
    print(
        "\n| run (day) | status | queued (s) | duration (s) | load (s) | downstream (s) |"
        "\n|---|---|---:|---:|---:|---:|"
    )
    for run in runs:
        queued = run["startTime"] - run["creationTime"]
        load = run["steps"].get("raw_interactions", 0.0)
        downstream = sum(seconds for step, seconds in run["steps"].items() if step != "raw_interactions")
        print(
            f"| {run['tags']['dagster/partition']} | {run['status']} | {queued:.1f} | "
            f"{run['endTime'] - run['startTime']:.1f} | {load:.1f} | {downstream:.1f} |"
        )
    wall = max(run["endTime"] for run in runs) - tick
    print(f"\nTick wall time (first run created to last run finished): {wall:.1f} s for three days; "
          f"analysts' copy {published_mib:.1f} MiB.")  # fmt: skip


if __name__ == "__main__":
    main()
