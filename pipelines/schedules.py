"""The nightly load: yesterday plus a lookback of earlier days, to catch events that arrive late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SkipReason,
    run_failure_sensor,
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


def days_landed(instance: DagsterInstance, run_id: str) -> list[str]:
    """The days a run's load step recorded as landed, read from the instance: a step that fails afterwards
    (some days of its range failed) keeps its logged materializations there, not in its result."""
    return sorted(
        entry.dagster_event.partition
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        if entry.dagster_event
        and entry.dagster_event.partition
        and entry.dagster_event.asset_key == AssetKey("raw_interactions")
    )


def build_refresh_after_failed_days_sensor(refresh_job: JobLike) -> SensorDefinition:
    """On a file: after a run whose load step failed on some days but landed others (a backfill of a range is
    one run), a refresh run, so the landed days reach the marts, the report and the analysts' copy as they do
    after `interactions load`. Not when a refresh run was created after the failed run ended: the CLI starts
    one itself, and a refresh covers every day loaded before it."""

    @run_failure_sensor(
        name="refresh_after_failed_days",
        request_job=refresh_job,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Queues interactions_refresh_job after a run (a backfill's range) in which some days failed to "
        "load and others landed, so those reach the analysts' copy.",
    )
    def refresh_after_failed_days(context: RunFailureSensorContext) -> RunRequest | SkipReason:
        run = context.dagster_run
        failed_steps = {event.step_key for event in context.get_step_failure_events()}
        if failed_steps != {"raw_interactions"}:
            return SkipReason(
                f"run {run.run_id} failed in {sorted(filter(None, failed_steps))}, not in the load alone"
            )
        if not days_landed(context.instance, run.run_id):
            return SkipReason(f"run {run.run_id} landed no day")
        record = context.instance.get_run_record_by_id(run.run_id)
        ended = record.end_time if record and record.end_time else None
        if ended is not None:
            later = context.instance.get_runs(
                filters=RunsFilter(
                    job_name=refresh_job.name, created_after=datetime.fromtimestamp(ended, tz=UTC)
                ),
                limit=1,
            )
            if later:
                return SkipReason(f"refresh run {later[0].run_id} came after run {run.run_id}")
        return RunRequest(run_key=f"after-failed-days-{run.run_id}")

    return refresh_after_failed_days
