"""The nightly load: yesterday plus a lookback of earlier days, to catch events that arrive late."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SkipReason,
    run_status_sensor,
    schedule,
)

PARTITION_TAG = "dagster/partition"  # what Dagster tags a partition's run with
JobLike = Any  # dagster's asset-job type is not exported at the top level


def nightly_partition_keys(scheduled_date: datetime, lookback_days: int) -> list[str]:
    """Yesterday (relative to the tick, UTC) and the `lookback_days` before it, oldest first."""
    yesterday = scheduled_date.date() - timedelta(days=1)
    return [(yesterday - timedelta(days=back)).isoformat() for back in range(lookback_days, -1, -1)]


def build_nightly_schedule(
    job: JobLike, cron: str, lookback_days: int, *, parallel: bool = False
) -> ScheduleDefinition:
    """INTERACTIONS_NIGHTLY_CRON and INTERACTIONS_LOOKBACK_DAYS (interactions_etl.settings); `parallel`: a
    lake's load job, whose runs go at once and whose refresh follows in its own run."""
    how = (
        "in parallel (the lake), each queuing the refresh of staging, the marts, the report and the snapshot."
        if parallel
        else "queued one at a time, each refreshing staging, the marts, the report and the analysts' copy."
    )

    @schedule(
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        name="nightly_interactions",
        description=f"Loads yesterday and re-loads the {lookback_days} days before it (late events): one run per "
        f"day, {how}",
        default_status=DefaultScheduleStatus.STOPPED,
    )
    def nightly(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
        tick = context.scheduled_execution_time
        # A day whose run from an earlier tick still waits in the queue is not queued again: that run has not
        # fetched yet and will fetch what this one would. Ticks that come faster than the runs end (a frequent
        # cron on a busy machine) then leave one run per day in the queue, not a backlog that grows each tick.
        # Only QUEUED counts: a run left NOT_STARTED (created, never submitted) would otherwise hold its day
        # back for good.
        waiting = {
            run.tags.get(PARTITION_TAG)
            for run in context.instance.get_runs(
                filters=RunsFilter(job_name=job.name, statuses=[DagsterRunStatus.QUEUED])
            )
        }
        keys = [key for key in nightly_partition_keys(tick, lookback_days) if key not in waiting]
        if not keys:
            return SkipReason(
                f"every day of this tick has a run in the queue already: {sorted(waiting - {None})}"
            )
        # One run per day; the run_key makes a re-evaluated tick idempotent.
        return [RunRequest(run_key=f"{tick:%Y-%m-%d}:{key}", partition_key=key) for key in keys]

    return nightly


def build_refresh_sensor(load_job: JobLike, refresh_job: JobLike) -> SensorDefinition:
    """On a lake: after each successful load run, a refresh run, unless one is already queued (not yet
    started, it will see this load's commit too): thirty parallel loads end in a few refreshes, not thirty.
    A refresh already running may have begun before the load committed, so it does not count."""

    @run_status_sensor(
        name="refresh_after_loads",
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[load_job],
        request_job=refresh_job,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=5,
        description="Queues interactions_refresh_job after each successful load on the lake (unless one is queued).",
    )
    def refresh_after_loads(context: RunStatusSensorContext):
        waiting = context.instance.get_runs(
            filters=RunsFilter(
                job_name=refresh_job.name, statuses=[DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]
            ),
            limit=1,
        )
        if waiting:
            return SkipReason(f"refresh run {waiting[0].run_id} is queued and will see this load")
        return RunRequest(run_key=f"after-{context.dagster_run.run_id}")

    return refresh_after_loads
