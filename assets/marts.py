"""The marts analysts query: one asset per table, rebuilt together for the days the staging layer changed."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AutomationCondition,
    Config,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from pydantic import Field

from pipelines import warehouse
from pipelines.marts import refresh_marts
from pipelines.resources import WarehouseResource

DESCRIPTIONS = {
    "ctr_by_position": "marts.ctr_by_position: day x retriever x device x position: impressions, clicks, CTR "
    "with a Wilson 95% interval (shown slots).",
    "search_ctr": "marts.search_ctr: day x retriever: searches, tracked searches, search CTR, no-click rate, "
    "zero-results rate, average click rank, clicks by rank (1..10, 11-20, 21+).",
}
STAGING = [AssetKey("staging_search_executions"), AssetKey("staging_result_slots")]


class MartsConfig(Config):
    full_refresh: bool = Field(
        default=False, description="Rebuild every day instead of the days that changed."
    )


@multi_asset(
    specs=[
        AssetSpec(
            f"marts_{name}",
            group_name="marts",
            description=text,
            deps=STAGING,
            kinds={"duckdb", "sql"},
            automation_condition=AutomationCondition.eager(),
        )
        for name, text in DESCRIPTIONS.items()
    ],
    check_specs=[
        AssetCheckSpec(
            "rates_within_0_1",
            asset="marts_ctr_by_position",
            blocking=True,
            description="Every CTR and interval bound lies in [0, 1].",
        ),
        AssetCheckSpec(
            "clicks_not_above_impressions",
            asset="marts_ctr_by_position",
            blocking=True,
            description="No position has more clicks than impressions.",
        ),
        AssetCheckSpec(
            "rates_within_0_1",
            asset="marts_search_ctr",
            blocking=True,
            description="Search CTR, no-click and zero-results rates lie in [0, 1].",
        ),
    ],
    can_subset=False,
)
def mart_tables(context: AssetExecutionContext, config: MartsConfig, warehouse_db: WarehouseResource):
    con = warehouse.connect(warehouse_db.path, memory_limit=warehouse_db.memory_limit)
    try:
        report = refresh_marts(con, full=config.full_refresh)
        bad_ctr_rates = warehouse.one(con, "checks/ctr_by_position_rates_outside_0_1")[0]
        clicks_above = warehouse.one(con, "checks/ctr_by_position_clicks_above_impressions")[0]
        bad_search_rates = warehouse.one(con, "checks/search_ctr_rates_outside_0_1")[0]
        previews = {
            name: con.table(f"marts.{name}").limit(5).df().to_markdown(index=False) for name in DESCRIPTIONS
        }
    finally:
        con.close()
    context.log.info(f"marts refreshed for {len(report.days)} days")
    checks = {
        "marts_ctr_by_position": [
            AssetCheckResult(
                asset_key="marts_ctr_by_position",
                check_name="rates_within_0_1",
                passed=bad_ctr_rates == 0,
                metadata={"rows": bad_ctr_rates},
            ),
            AssetCheckResult(
                asset_key="marts_ctr_by_position",
                check_name="clicks_not_above_impressions",
                passed=clicks_above == 0,
                metadata={"rows": clicks_above},
            ),
        ],
        "marts_search_ctr": [
            AssetCheckResult(
                asset_key="marts_search_ctr",
                check_name="rates_within_0_1",
                passed=bad_search_rates == 0,
                metadata={"rows": bad_search_rates},
            ),
        ],
    }
    for name in DESCRIPTIONS:
        key = f"marts_{name}"
        yield MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": report.rows[name],
                "days_rebuilt": MetadataValue.json([d.isoformat() for d in report.days]),
                "preview": MetadataValue.md(previews[name]),
            },
            check_results=checks[key],
        )
