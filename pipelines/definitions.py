"""Dagster Definitions: what `dagster dev` (workspace.yaml) shows and what the `interactions` CLI runs."""

from __future__ import annotations

import os

from dagster import (
    AssetSelection,
    Definitions,
    EnvVar,
    colored_console_logger,
    define_asset_job,
    in_process_executor,
)

from interactions_etl.assets.marts import mart_tables
from interactions_etl.assets.publish import published_warehouse
from interactions_etl.assets.raw import raw_interactions
from interactions_etl.assets.report import position_bias_report
from interactions_etl.assets.staging import staging_tables
from interactions_etl.mixpeek.settings import DEFAULT_BASE_URL
from interactions_etl.resources import MixpeekResource, WarehouseResource
from interactions_etl.run_progress import asset_messages_logger
from interactions_etl.schedules import build_nightly_schedule
from interactions_etl.warehouse import DEFAULT_LOCK_TIMEOUT_SECONDS, warehouse_path_from_env

PARTITIONED_ASSETS = [raw_interactions]
# Unpartitioned assets rebuilt after every load, in the same run: the SQL tables, the report, the analysts' copy.
DOWNSTREAM_ASSETS = [staging_tables, mart_tables, position_bias_report, published_warehouse]
ALL_ASSETS = [*PARTITIONED_ASSETS, *DOWNSTREAM_ASSETS]

# The one mechanism behind the schedule, backfills and the CLI (docs/orchestration.md): a run loads its
# day (or range of days) and then refreshes everything downstream for the days that changed. A failed load
# or blocking check fails the run and skips what is downstream of it.
interactions_job = define_asset_job(
    "interactions_job",
    selection=AssetSelection.assets(*ALL_ASSETS),
    description="Load the partition's day (a range: one run, day by day) into raw.interactions, then refresh "
    "staging, the marts, the position-bias report and the analysts' copy for the days that changed.",
    # The steps form one chain on one DuckDB file: a process per step would only add start-up time.
    executor_def=in_process_executor,
)


def resources_from_env() -> dict[str, object]:
    return {
        "mixpeek": MixpeekResource(
            base_url=os.environ.get("MIXPEEK_BASE_URL") or DEFAULT_BASE_URL,
            api_key=EnvVar("MIXPEEK_API_KEY"),
            namespace=EnvVar("MIXPEEK_NAMESPACE"),
            retriever_id=os.environ.get("MIXPEEK_RETRIEVER_ID") or None,
            requests_per_second=float(os.environ.get("MIXPEEK_REQUESTS_PER_SECOND") or 10),
            max_in_flight=int(os.environ.get("MIXPEEK_MAX_IN_FLIGHT") or 5),
        ),
        "warehouse_db": WarehouseResource(
            path=warehouse_path_from_env(),
            lock_timeout_seconds=float(
                os.environ.get("WAREHOUSE_LOCK_TIMEOUT_SECONDS") or DEFAULT_LOCK_TIMEOUT_SECONDS
            ),
        ),
    }


def build_definitions(resources: dict[str, object] | None = None) -> Definitions:
    return Definitions(
        assets=ALL_ASSETS,
        jobs=[interactions_job],
        schedules=[build_nightly_schedule(interactions_job)],
        resources=resources if resources is not None else resources_from_env(),
        executor=in_process_executor,  # runs launched from the UI too
        # Dagster's console logger as always; the CLI adds `asset_messages` for its progress lines.
        loggers={"console": colored_console_logger, "asset_messages": asset_messages_logger},
    )


defs = build_definitions()
