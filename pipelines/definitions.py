"""Dagster Definitions: what `dg dev` / `dagster dev` (workspace.yaml) shows and what the `interactions` CLI runs.

Dagster loads `defs` when the code location starts: that is where the settings are read (this module reads
nothing at import). The CLI reads them itself and calls `build_definitions` with its own resources.
"""

from __future__ import annotations

from typing import Any

from dagster import (
    AssetSelection,
    Definitions,
    ResourceDefinition,
    colored_console_logger,
    define_asset_job,
    definitions,
    in_process_executor,
)

from interactions_etl.assets.marts import mart_tables
from interactions_etl.assets.publish import build_published_warehouse
from interactions_etl.assets.raw import build_raw_interactions, daily_partitions
from interactions_etl.assets.report import position_bias_report
from interactions_etl.assets.staging import staging_tables
from interactions_etl.resources import MixpeekResource, ReportsResource, WarehouseResource
from interactions_etl.run_progress import asset_messages_logger
from interactions_etl.schedules import (
    build_nightly_schedule,
    build_refresh_after_failed_days_sensor,
    build_refresh_sensor,
)
from interactions_etl.settings import Settings, load_settings

LOAD_JOB = "interactions_load_job"
REFRESH_JOB = "interactions_refresh_job"
LOAD_JOB_DESCRIPTION = (
    "On a lake: load the partition's day into raw.interactions; runs of several days run in parallel, up to "
    "DUCKLAKE_PARALLEL_LOADS, and each success queues the refresh."
)
REFRESH_JOB_DESCRIPTION = (
    "On a lake: refresh staging, the marts, the position-bias report and the published snapshot for every load "
    "committed since the last refresh; one run at a time."
)
FILE_REFRESH_JOB_DESCRIPTION = (
    "Refresh staging, the marts, the position-bias report and the analysts' copy for every day loaded since the "
    "last refresh: what `interactions load` runs after a range in which some days failed (the days that loaded "
    "are then published), and what to run by hand after such a backfill."
)
JOB_DESCRIPTION = (
    "Load the partition's day (a range: one run, day by day) into raw.interactions, then refresh staging, the "
    "marts, the position-bias report and the analysts' copy for the days that changed."
)


def _resources(
    settings: Settings, api_key: Any, pseudonymise_key: Any, lake_password: Any = None, s3_secret: Any = None
) -> dict[str, Any]:
    return {
        "mixpeek": MixpeekResource(
            base_url=settings.mixpeek_base_url,
            api_key=api_key,
            namespace=settings.mixpeek_namespace or "",
            retriever_id=settings.mixpeek_retriever_id,
            requests_per_second=settings.mixpeek_requests_per_second,
            max_in_flight=settings.mixpeek_max_in_flight,
            max_answer_bytes=settings.mixpeek_max_answer_bytes,
            request_deadline_seconds=settings.mixpeek_request_deadline_seconds,
        ),
        "warehouse_db": WarehouseResource(
            path=str(settings.warehouse_path),
            published_path=str(settings.published_warehouse_path)
            if settings.published_warehouse_path
            else None,
            lock_timeout_seconds=settings.warehouse_lock_timeout_seconds,
            memory_limit=settings.memory_limit,
            temp_directory=str(settings.warehouse_temp_directory)
            if settings.warehouse_temp_directory
            else None,
            retention_days=settings.interactions_retention_days,
            pseudonymise_key=pseudonymise_key,
            backend=settings.warehouse_backend,
            lake_catalog=settings.ducklake_catalog,
            lake_catalog_password=lake_password,
            lake_data_path=settings.ducklake_data_path,
            lake_s3_key_id=settings.ducklake_s3_key_id,
            lake_s3_secret=s3_secret,
            lake_s3_endpoint=settings.ducklake_s3_endpoint,
            lake_s3_region=settings.ducklake_s3_region,
            lake_s3_use_ssl=settings.ducklake_s3_use_ssl,
            lake_s3_url_style=settings.ducklake_s3_url_style,
            lake_snapshot_retention_days=settings.ducklake_snapshot_retention_days,
        ),
        "reports": ReportsResource(folder=str(settings.reports_dir), keep=settings.interactions_reports_keep),
    }


def dagster_resources(settings: Settings) -> dict[str, Any]:
    """Resources for the code location Dagster serves: the secrets as EnvVar, so Dagster stores and shows the
    variables' names only (MIXPEEK_API_KEY stays required: a run without it fails in the resource)."""
    return _resources(
        settings,
        settings.dagster_secret("mixpeek_api_key", required=True),
        settings.dagster_secret("interactions_pseudonymise_key"),
        settings.dagster_secret("ducklake_catalog_password"),
        settings.dagster_secret("ducklake_s3_secret"),
    )


def process_resources(settings: Settings) -> dict[str, Any]:
    """Resources for a run in this process (the CLI, tests): values handed to Dagster as they are, outside its
    configuration system, so no secret enters the run's stored snapshot and nothing is read from the environment."""
    key = settings.mixpeek_api_key.get_secret_value() if settings.mixpeek_api_key else ""

    def plain(secret: Any) -> str | None:
        return secret.get_secret_value() if secret else None

    built = _resources(
        settings,
        key,
        plain(settings.interactions_pseudonymise_key),
        plain(settings.ducklake_catalog_password),
        plain(settings.ducklake_s3_secret),
    )
    return {name: ResourceDefinition.hardcoded_resource(resource) for name, resource in built.items()}


# Dagster's run monitoring (the daemon, run_monitoring in pipelines/dagster.yaml) cancels a run tagged with this
# once it has run that many seconds. The code server fails a run whose process dies, but the default run launcher
# has no health check: a run that hangs, or whose code server went away with it, would stay Started holding its
# pool, and every later run would wait behind it.
MAX_RUNTIME_TAG = "dagster/max_runtime"


def run_limit_tags(seconds: int) -> dict[str, str]:
    """The tag that limits a run to `seconds` (INTERACTIONS_MAX_RUN_SECONDS); 0: none, no limit."""
    return {MAX_RUNTIME_TAG: str(seconds)} if seconds > 0 else {}


def build_definitions(settings: Settings, resources: dict[str, Any] | None = None) -> Definitions:
    """The assets, the jobs, the nightly schedule and the resources for `settings`."""
    from interactions_etl.backends import warehouse_from_settings

    on_lake = warehouse_from_settings(settings).parallel_loads is not None  # loads in their own pool
    raw = build_raw_interactions(
        daily_partitions(settings.interactions_start_date),
        settings.interactions_freshness_deadline_utc,
        parallel=on_lake,
    )
    # Unpartitioned assets rebuilt after loads: the SQL tables, the report, the analysts' copy (or snapshot).
    downstream = [
        staging_tables,
        mart_tables,
        position_bias_report,
        build_published_warehouse(settings.interactions_freshness_deadline_utc),
    ]
    assets = [raw, *downstream]
    # Every run of every job is limited: from the UI, the schedule, a backfill, the lake's sensor.
    limit = run_limit_tags(settings.interactions_max_run_seconds)
    # The mechanism behind the schedule, backfills and the CLI (docs/orchestration.md): a run loads its day (or
    # range of days) and then refreshes everything downstream for the days that changed. A failed load or
    # blocking check fails the run and skips what is downstream of it.
    job = define_asset_job(
        "interactions_job",
        selection=AssetSelection.assets(*assets),
        description=JOB_DESCRIPTION,
        # The steps form one chain on one warehouse: a process per step would only add start-up time.
        executor_def=in_process_executor,
        tags=limit,
    )
    # Everything downstream of the loads, alone. On a file: run after a range whose load step failed on some
    # days but landed others (its failure skipped the steps after it), so those days still reach the analysts.
    refresh_job = define_asset_job(
        REFRESH_JOB, selection=AssetSelection.assets(*downstream),
        description=REFRESH_JOB_DESCRIPTION if on_lake else FILE_REFRESH_JOB_DESCRIPTION,
        executor_def=in_process_executor, tags=limit,
    )  # fmt: skip
    jobs = [job, refresh_job]
    # On a file a backfill's range is one run: a sensor refreshes after one in which some days failed.
    sensors = [] if on_lake else [build_refresh_after_failed_days_sensor(refresh_job)]
    nightly_job = job
    if on_lake:
        # On a lake the days load in parallel runs (the pool `interactions_loads`) and the refresh follows in a
        # run of its own (the pool `duckdb_warehouse`, one at a time), started by a sensor after each load.
        load_job = define_asset_job(
            LOAD_JOB, selection=AssetSelection.assets(raw), description=LOAD_JOB_DESCRIPTION,
            executor_def=in_process_executor, tags=limit,
        )  # fmt: skip
        jobs.append(load_job)
        sensors.append(build_refresh_sensor(load_job, refresh_job))
        nightly_job = load_job
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=[
            build_nightly_schedule(
                nightly_job,
                settings.interactions_nightly_cron,
                settings.interactions_lookback_days,
                parallel=on_lake,
            )
        ],
        sensors=sensors,
        resources=resources if resources is not None else dagster_resources(settings),
        executor=in_process_executor,  # runs launched from the UI too
        # Dagster's console logger as always; the CLI adds `asset_messages` for its progress lines.
        loggers={"console": colored_console_logger, "asset_messages": asset_messages_logger},
    )


@definitions
def defs() -> Definitions:
    """What workspace.yaml and `[tool.dg]` load: the settings are read here, when the code location starts."""
    return build_definitions(load_settings())
