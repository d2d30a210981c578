"""Dagster Definitions: what `dagster dev` (workspace.yaml) shows."""

from __future__ import annotations

import os

from dagster import AssetSelection, Definitions, EnvVar, define_asset_job

from assets.marts import mart_tables
from assets.publish import published_warehouse
from assets.raw import raw_interactions
from assets.report import position_bias_report
from assets.staging import staging_tables
from pipelines.mixpeek.settings import DEFAULT_BASE_URL
from pipelines.resources import MixpeekResource, WarehouseResource
from pipelines.schedules import build_nightly_schedule
from pipelines.warehouse import warehouse_path_from_env

PARTITIONED_ASSETS = [raw_interactions]
# Unpartitioned assets rebuilt after the loads (SQL tables, the report, the analysts' copy): eager automation in `dagster dev`, explicitly in the CLI.
DOWNSTREAM_ASSETS = [staging_tables, mart_tables, position_bias_report, published_warehouse]
ALL_ASSETS = [*PARTITIONED_ASSETS, *DOWNSTREAM_ASSETS]

interactions_job = define_asset_job(
    "interactions_job",
    selection=AssetSelection.assets(raw_interactions),
    description="Load the partition's day into raw.interactions; the staging and mart assets follow by automation.",
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
        "warehouse_db": WarehouseResource(path=warehouse_path_from_env()),
    }


defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[interactions_job],
    schedules=[build_nightly_schedule(interactions_job)],
    resources=resources_from_env(),
)
