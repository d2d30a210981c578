"""The staging layer: interaction_events, search_executions and result_slots, refreshed together for the event
days that raw loads changed (pipelines/staging.py)."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from pydantic import Field

from interactions_etl import warehouse
from interactions_etl.assets.policies import WAREHOUSE_POOL, single_run_backfill, table_metadata
from interactions_etl.resources import WarehouseResource
from interactions_etl.retention import apply_retention
from interactions_etl.staging import (
    DEFAULT_CONVERSION_TYPES,
    STAGING_TABLES,
    StagingSettings,
    ensure_staging_tables,
    refresh_staging,
)

# Each table's description is its COMMENT ON TABLE (sql/staging/comment_<name>.sql), shown as is.
DESCRIPTIONS = {
    name: f"staging.{name}: {warehouse.table_description(f'staging.{name}')}" for name in STAGING_TABLES
}


class StagingConfig(Config):
    full_refresh: bool = Field(
        default=False, description="Rebuild every day instead of the days that changed."
    )
    short_dwell_ms: int = Field(default=10_000, description="A click with less dwell is a short click.")
    long_dwell_ms: int = Field(
        default=30_000, description="A click with at least this dwell is a long click."
    )
    conversion_types: list[str] = Field(
        default=list(DEFAULT_CONVERSION_TYPES), description="Interaction types that count as a conversion."
    )

    def settings(self) -> StagingSettings:
        return StagingSettings(
            short_dwell_ms=self.short_dwell_ms,
            long_dwell_ms=self.long_dwell_ms,
            conversion_types=tuple(self.conversion_types),
        )


@multi_asset(
    specs=[
        AssetSpec(
            f"staging_{name}",
            group_name="staging",
            description=text,
            deps=[AssetKey("raw_interactions")],
            kinds={"duckdb", "sql"},
        )
        for name, text in DESCRIPTIONS.items()
    ],
    can_subset=False,  # the three tables are one consistent refresh
    pool=WAREHOUSE_POOL,
    backfill_policy=single_run_backfill(),
)
def staging_tables(context: AssetExecutionContext, config: StagingConfig, warehouse_db: WarehouseResource):
    settings = config.settings()
    con = warehouse_db.connect()
    try:
        with warehouse_db.writer_lock("staging refresh"):  # on a lake, writers from anywhere take turns
            keep_days = warehouse_db.retention_days  # INTERACTIONS_RETENTION_DAYS, when set
            if keep_days is not None:
                ensure_staging_tables(con)
                kept = apply_retention(con, keep_days)
                context.log.info(
                    f"retention: dropped {kept.raw_rows} raw and {kept.staging_rows} staging rows before {kept.cutoff}"
                )
            report = refresh_staging(con, settings, full=config.full_refresh)
        tables = {name: table_metadata(con, f"staging.{name}", report.rows[name]) for name in DESCRIPTIONS}
    finally:
        con.close()
    # No row previews here: staging holds a row per user event, and Dagster keeps every materialization's
    # metadata in its own storage, out of reach of `forget-user`. The marts (aggregates) keep theirs.
    context.log.info(
        f"staging refreshed for {len(report.changed_days)} changed event days in {report.batches} batches"
    )
    for name in DESCRIPTIONS:
        yield MaterializeResult(
            asset_key=f"staging_{name}",
            metadata={
                **tables[name],
                "changed_event_days": MetadataValue.json([d.isoformat() for d in report.changed_days]),
                "execution_days_rebuilt": len(report.execution_days),
            },
        )
