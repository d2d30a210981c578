"""pytest-xdist's `--dist loadfile` (a file's tests on one worker, so what a file builds once is built once),
scheduled longest file first.

xdist 3.8's own order went wrong in two ways, measured on a 4-worker run of 394 tests:
- It sorts files by their number of tests (`--loadscope-reorder`, on by default): the emulator's many quick
  tests started before the estimator's 330 s set-up, and the `slow` marks' order was lost.
- It hands a worker its next file as soon as two or fewer of its tests are pending. A worker cannot start its
  last test before it knows the next one, so a worker given a one-test file (the multi-machine Dagster test,
  195 s) takes the next file in the queue at once, and that file waits behind it. The estimator file, the
  multi-machine test and the schedule test ran one after another on one worker, 743 s, while another worker
  was done at 587 s.

Here each file has a weight (its seconds beside the rest of the suite, FILE_SECONDS; a file not listed weighs
0). A worker with no long file pending gets the heaviest file left; a worker still busy with a long file gets
the lightest, to run after it, so the next long file goes to the next worker that is free.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

# Seconds per file beside the rest of the suite (four workers on two cores, 2026-12-01). Only the order
# matters: refresh it from a `--durations=0` run when a file grows or shrinks by a lot.
FILE_SECONDS: dict[str, float] = {
    "tests/estimators/test_marts_against_ground_truth.py": 430,
    "tests/reliability/test_fault_matrix.py": 375,
    "tests/reliability/test_cli_errors.py": 210,
    "tests/orchestration/test_machines.py": 195,
    "tests/report/test_report_in_chromium.py": 155,
    "tests/test_wheel.py": 135,
    "tests/orchestration/test_nightly_under_dagster.py": 120,
    "tests/pipeline/test_definitions.py": 105,
    "tests/orchestration/test_run_monitoring.py": 100,
    "tests/lake/test_concurrent_writers.py": 150,
    "tests/lake/test_parallel_loads.py": 95,
    "tests/reliability/test_secrets.py": 90,
    "tests/reliability/test_concurrent_instances.py": 90,  # 60 s alone (2026-12-07), not yet measured beside the rest
    "tests/lake/test_lake_erasure.py": 90,
    "tests/test_demo.py": 85,
    "tests/reliability/test_misbehaving_server.py": 85,
    "tests/warehouse/test_marts.py": 75,
    "tests/reliability/test_erasure.py": 70,
    "tests/reliability/test_erasure_everywhere.py": 60,
    "tests/reliability/test_hostile_answers.py": 55,
    "tests/warehouse/test_staging.py": 45,
    "tests/emulator/test_listing.py": 30,
    "tests/lake/test_lake_under_dagster.py": 30,
    "tests/lake/test_migrate.py": 30,
    "tests/emulator/test_generator.py": 25,
    "tests/pipeline/test_landing.py": 25,
    "tests/reliability/test_source_duplicates.py": 45,  # 2026-12-07, four workers, from here down
    "tests/reliability/test_range_partial_failure.py": 35,
    "tests/reliability/test_erasure_exact.py": 30,
    "tests/reliability/test_key_echo.py": 30,
    "tests/reliability/test_retention.py": 20,
    "tests/report/test_report_data.py": 20,
}
LONG = 60  # a file that keeps its worker busy long enough for the next long file to be better off elsewhere


def weight(scope: str) -> float:
    return FILE_SECONDS.get(scope, 0.0)


class LongestFileFirst(LoadFileScheduling):
    def _assign_work_unit(self, node: Any) -> None:
        busy_with_a_long_file = any(
            weight(scope) >= LONG and not all(done.values())
            for scope, done in self.assigned_work.get(node, {}).items()
        )
        pick = min if busy_with_a_long_file else max
        # min and max keep the first of equals: the collection order among files of one weight.
        chosen = pick(self.workqueue, key=weight)
        self.workqueue.move_to_end(chosen, last=False)
        super()._assign_work_unit(node)


def make_scheduler(config: pytest.Config, log: Any) -> LongestFileFirst | None:
    if config.getoption("dist", None) != "loadfile":
        return None
    return LongestFileFirst(config, log)
