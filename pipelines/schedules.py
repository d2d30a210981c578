"""The nightly load: yesterday plus a lookback of earlier days, to catch events that arrive late."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

JobLike = Any  # dagster's asset-job type is not exported at the top level


def nightly_partition_keys(scheduled_date: datetime, lookback_days: int) -> list[str]:
    """Yesterday (relative to the tick, UTC) and the `lookback_days` before it, oldest first."""
    yesterday = scheduled_date.date() - timedelta(days=1)
    return [(yesterday - timedelta(days=back)).isoformat() for back in range(lookback_days, -1, -1)]


def build_nightly_schedule(job: JobLike, cron: str, lookback_days: int) -> ScheduleDefinition:
    """INTERACTIONS_NIGHTLY_CRON and INTERACTIONS_LOOKBACK_DAYS (interactions_etl.settings)."""

    @schedule(
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        name="nightly_interactions",
        description=f"Loads yesterday and re-loads the {lookback_days} days before it (late events): one run per "
        "day, queued one at a time, each refreshing staging, the marts, the report and the analysts' copy.",
        default_status=DefaultScheduleStatus.STOPPED,
    )
    def nightly(context: ScheduleEvaluationContext):
        tick = context.scheduled_execution_time
        for key in nightly_partition_keys(tick, lookback_days):
            # One run per day; the run_key makes a re-evaluated tick idempotent.
            yield RunRequest(run_key=f"{tick:%Y-%m-%d}:{key}", partition_key=key)

    return nightly
