"""The analysts' copy of the warehouse, published after the marts and the report are built."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

from datetime import UTC, datetime, time, timedelta

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue

from interactions_etl import warehouse
from interactions_etl.assets.policies import nightly_freshness, warehouse_asset
from interactions_etl.lake import Lake, publish_snapshot, purge
from interactions_etl.resources import WarehouseResource


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
        location = warehouse_db.location()
        if isinstance(location, Lake):  # nothing to copy: readers attach at the build's snapshot
            con = warehouse_db.connect()
            try:
                snapshot = publish_snapshot(con, context.run.run_id)
                # Storage follows: snapshots older than the retention expire (the published one stays) and the
                # files only they saw are deleted, so retired and deleted rows leave the disk.
                keep_days = timedelta(days=warehouse_db.lake_snapshot_retention_days)
                purged = purge(con, older_than=datetime.now(UTC) - keep_days, keep=[snapshot])
            finally:
                con.close()
            context.log.info(
                f"published snapshot {snapshot} of {warehouse_db.name()}; {purged.snapshots_expired} older "
                f"snapshots expired, {purged.files_deleted} files deleted"
            )
            return MaterializeResult(
                metadata={
                    "snapshot": snapshot,
                    "snapshots_expired": purged.snapshots_expired,
                    "files_rewritten": purged.files_rewritten,
                    "files_deleted": purged.files_deleted,
                }
            )
        target = warehouse.publish(
            warehouse_db.path,
            warehouse_db.published(),
            lock_timeout_seconds=warehouse_db.lock_timeout_seconds,
        )
        size = target.stat().st_size
        context.log.info(f"published {target} ({size / 2**20:.1f} MiB)")
        return MaterializeResult(metadata={"path": MetadataValue.path(str(target.resolve())), "bytes": size})

    return published_warehouse
