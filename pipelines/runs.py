"""The nightly's Dagster job run in this process, for `interactions load` and the demo: the business rules of a
range's run (the second run that refreshes what is downstream of the days that landed when others failed, the
empty warehouse a failed first load leaves), without printing anything; the CLI says what came of it.

The run is recorded in the project's Dagster instance (pipelines/instance.py), so `dagster dev` shows it
afterwards. The settings reach Dagster as resources built from them, not through the environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interactions_etl.settings import Settings

# The CLI prints one line per message an asset logs; Dagster's event stream stays in the UI (and in the
# instance, for `dagster dev` to show).
CLI_RUN_CONFIG = {
    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}, "asset_messages": {}},
}


@dataclass(frozen=True)
class StepError:
    step: str
    cause: str  # our code's error under Dagster's wrapper, in one line
    traceback: str  # as Dagster recorded it (for --verbose)


@dataclass(frozen=True)
class JobRun:
    run_id: str
    success: bool
    errors: list[StepError]
    failed_checks: list[str]

    @property
    def failures(self) -> list[str]:
        return [f"{e.step}: {e.cause}" for e in self.errors]


@dataclass(frozen=True)
class LoadOutcome:
    """What came of `interactions_job` for a range, and of the refresh after it where some days failed."""

    days: list[date]
    run: JobRun
    landed: list[str] = field(default_factory=list)
    refresh: JobRun | None = None  # the second run, for the days that landed while others failed

    @property
    def success(self) -> bool:
        return self.run.success

    @property
    def failed_checks(self) -> list[str]:
        return self.run.failed_checks + (self.refresh.failed_checks if self.refresh else [])

    @property
    def errors(self) -> list[StepError]:
        return self.run.errors + (self.refresh.errors if self.refresh else [])

    def failure(self) -> str:
        """The one line that says what failed and what state analysts are left with."""
        failures, run_id, refresh = self.run.failures, self.run.run_id, self.refresh
        if refresh is None:
            return (
                f"{'; '.join(failures) or 'the run failed'}. Nothing downstream of it was rebuilt: the analysts' "
                f"copy and the report keep their previous state (run {run_id}; `python3 dev.py dagster` shows it)"
            )
        if refresh.success:
            return (
                f"{'; '.join(failures)}. The days that landed were refreshed downstream: staging, marts, report "
                f"and analysts' copy (run {run_id} failed, run {refresh.run_id} refreshed); re-run the failed "
                "days once their cause is fixed"
            )
        return (
            f"{'; '.join(failures)}. The refresh of the days that landed failed too: "
            f"{'; '.join(refresh.failures) or 'the run failed'}; the analysts' copy and the report keep their "
            f"previous state (runs {run_id}, {refresh.run_id})"
        )


def run_interactions_job(
    days: list[date], settings: Settings, *, say: Callable[[str], None] = lambda _: None
) -> LoadOutcome:
    """Run `interactions_job`, the job the nightly schedule runs, for the days given (a range is one run, as a
    backfill is): the loads, then everything downstream. A day that fails does not stop the others: when some
    days landed, `interactions_refresh_job` refreshes what is downstream of them in a second run, and the
    outcome stays failed, naming the failed days. `say` hears what happens as it happens. Raises
    InstanceLockTimeout when the Dagster instance stays locked."""
    from dagster import DagsterInstance

    from interactions_etl.backends import warehouse_from_settings
    from interactions_etl.definitions import REFRESH_JOB, build_definitions, process_resources, run_limit_tags
    from interactions_etl.instance import ensure_dagster_home
    from interactions_etl.schedules import days_landed

    backend = warehouse_from_settings(settings)
    first_load = not backend.exists()
    definitions = build_definitions(settings, process_resources(settings))
    # Dagster's tags for a single-run range, as `dagster asset materialize --partition-range` sets them.
    tags = {
        "dagster/asset_partition_range_start": days[0].isoformat(),
        "dagster/asset_partition_range_end": days[-1].isoformat(),
        # A range is one run: its limit, if a daemon watches this instance, grows with its days (0: none).
        **run_limit_tags(settings.interactions_max_run_seconds * len(days)),
    }
    home = ensure_dagster_home(settings.dagster_home.resolve(), backend.parallel_loads)
    say(f"running interactions_job for {days[0]}..{days[-1]} ({len(days)} days); Dagster instance: {home}")
    with DagsterInstance.from_config(str(home)) as instance:
        result = definitions.resolve_job_def("interactions_job").execute_in_process(
            instance=instance, tags=tags, run_config=CLI_RUN_CONFIG, raise_on_error=False
        )
        run = _job_run(result)
        outcome = LoadOutcome(days, run, days_landed(instance, run.run_id))
        # Some days failed and others landed: the load step's failure skipped what is downstream, so those
        # days are refreshed and published by a second run, and this one stays failed, for the failed days.
        if not run.success and outcome.landed and {e.step for e in run.errors} == {"raw_interactions"}:
            say(f"{len(outcome.landed)} of {len(days)} days landed; refreshing what is downstream of them")
            refresh = definitions.resolve_job_def(REFRESH_JOB).execute_in_process(
                instance=instance, tags=run_limit_tags(settings.interactions_max_run_seconds),
                run_config=CLI_RUN_CONFIG, raise_on_error=False,
            )  # fmt: skip
            outcome = LoadOutcome(days, run, outcome.landed, _job_run(refresh))
    if not run.success and first_load and backend.holds_nothing():  # no empty warehouse left behind
        backend.remove()
    return outcome


def _job_run(result: Any) -> JobRun:
    errors = [
        StepError(
            event.step_key,
            _root_cause(event.event_specific_data.error),
            event.event_specific_data.error.to_string(),
        )
        for event in result.all_events
        if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
    ]
    failed_checks = [
        f"{c.asset_key.to_user_string()}.{c.check_name}"
        for c in result.get_asset_check_evaluations()
        if not c.passed
    ]
    return JobRun(result.run_id, result.success, errors, failed_checks)


def _root_cause(error: Any) -> str:
    """The error our code raised under Dagster's wrapper of a step failure, in one line, without the exception's
    module path (the traceback stays in the instance for `dg dev`)."""
    while (error.cls_name or "").startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    first = (error.message.strip().splitlines() or [""])[0]
    return re.sub(r"^[\w.]+\.(\w+): ", "", first)
