"""The analysts' copy of the warehouse, published after the marts and the report are built."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

from collections.abc import Mapping
from datetime import time
from typing import Any

import duckdb
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue

from interactions_etl.assets.marts import MartsConfig, failed_checks
from interactions_etl.assets.policies import nightly_freshness, warehouse_asset
from interactions_etl.assets.staging import StagingConfig
from interactions_etl.marts import MartsSettings, catch_up
from interactions_etl.resources import WarehouseResource
from interactions_etl.staging import StagingSettings


def build_settings(run_config: Mapping[str, Any]) -> tuple[StagingSettings, MartsSettings]:
    """The staging and marts settings this run's refreshes used (their ops' config, else the defaults): a
    catch-up builds the days it adds as the run built its own."""
    ops = run_config.get("ops") or {}

    def config(op: str) -> dict[str, Any]:
        return {k: v for k, v in ((ops.get(op) or {}).get("config") or {}).items() if k != "full_refresh"}

    staging = StagingConfig(**config("staging_tables")).settings()
    return staging, MartsConfig(**config("mart_tables")).settings()


def build_published_warehouse(freshness_deadline: time) -> AssetsDefinition:
    """The asset with the configured freshness deadline (INTERACTIONS_FRESHNESS_DEADLINE_UTC)."""

    @warehouse_asset(
        deps=[AssetKey("position_bias_report")],
        group_name="publish",
        kinds={"duckdb"},
        # What analysts read: stale when no build finished in the 24 hours before the deadline.
        freshness_policy=nightly_freshness(freshness_deadline),
        description="A finished copy of the warehouse that analysts open read-only while loads run: "
        "<warehouse>.published.duckdb, or PUBLISHED_WAREHOUSE_PATH; replaced atomically after each build.",
    )
    def published_warehouse(
        context: AssetExecutionContext, warehouse_db: WarehouseResource
    ) -> MaterializeResult:
        staging, marts = build_settings(context.run.run_config)

        def catch_up_and_check(con: duckdb.DuckDBPyConnection) -> None:
            """Absorb the days other processes committed after this run's own refreshes (the CLI, cron or
            another machine: nothing but the writer lock orders them), so the build published has marts equal
            to its raw rows; then the blocking checks again, on what is about to be published. It runs where no
            other writer can commit before the build is published (the file's copying connection holds the file
            alone; a lake's publish holds the writer lock)."""
            caught = catch_up(con, staging, marts)
            if caught is None:
                return
            context.log.info(
                f"caught up with loads committed meanwhile: {len(caught.staging.changed_days)} event days, "
                f"{len(caught.marts.days)} mart days rebuilt"
            )
            failed = failed_checks(con)
            if failed:
                raise RuntimeError(f"not published: after catching up, checks fail: {', '.join(failed)}")

        # A file is copied for analysts; a lake records the build's snapshot, where readers attach.
        published = warehouse_db.warehouse().publish(context.run.run_id, prepare=catch_up_and_check)
        context.log.info(published.message)
        return MaterializeResult(
            metadata={
                name: MetadataValue.path(value) if name == "path" else value
                for name, value in published.metadata.items()
            }
        )

    return published_warehouse
