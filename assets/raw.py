"""`raw_interactions`: one UTC day of Mixpeek interactions landed in raw.interactions, exactly once."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

import os
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from pipelines import warehouse
from pipelines.landing import load_day
from pipelines.resources import MixpeekResource, WarehouseResource

# Days are UTC (metrics.md). The first partition is configurable so a team can backfill further back.
daily_partitions = DailyPartitionsDefinition(
    start_date=os.environ.get("INTERACTIONS_START_DATE") or "2025-01-01", timezone="UTC"
)

CHECKS = {
    "unique_interaction_id": "No interaction_id of the partition appears twice in raw.interactions.",
    "positions_non_negative": "Every position is >= 0 (positions are 0-based).",
    "fetched_equals_server_total": "The records fetched equal the total the server reported for the window.",
    "rejected_share_below_threshold": "Records quarantined in raw.rejected_interactions stay under the threshold.",
}


class RawInteractionsConfig(Config):
    max_rejected_share: float = Field(
        default=0.01, description="Share of a day's records that may fail validation before the check fails."
    )


@asset(
    name="raw_interactions",
    group_name="raw",
    partitions_def=daily_partitions,
    kinds={"duckdb", "python"},
    description="Every Mixpeek interaction recorded on the partition's UTC day (by `timestamp`), one row each; "
    "malformed records go to raw.rejected_interactions.",
    check_specs=[
        AssetCheckSpec(name, asset="raw_interactions", description=text, blocking=True)
        for name, text in CHECKS.items()
    ],
)
def raw_interactions(
    context: AssetExecutionContext,
    config: RawInteractionsConfig,
    mixpeek: MixpeekResource,
    warehouse_db: WarehouseResource,
) -> MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    with mixpeek.client() as client:
        report = load_day(
            client,
            warehouse_db.path,
            day,
            context.run.run_id,
            page_size=mixpeek.page_size,
            memory_limit=warehouse_db.memory_limit,
        )
    context.log.info(
        f"{day}: {report.rows} rows, {report.rejected} rejected, {report.duplicates} duplicates, "
        f"{report.pages} pages, {report.requests} requests, {report.retries} retries in {report.seconds:.1f} s"
    )
    con = warehouse.connect(warehouse_db.path, read_only=True)
    try:
        duplicates = warehouse.run(
            con, "checks/raw_interactions_duplicate_ids", partition_date=day
        ).fetchone()[0]
        negatives = warehouse.run(
            con, "checks/raw_interactions_negative_positions", partition_date=day
        ).fetchone()[0]
    finally:
        con.close()
    total_matches = (not report.total_checked) or report.fetched == report.server_total
    checks = [
        AssetCheckResult(
            check_name="unique_interaction_id",
            passed=duplicates == 0,
            metadata={"duplicate_rows": duplicates},
        ),
        AssetCheckResult(
            check_name="positions_non_negative",
            passed=negatives == 0,
            metadata={"negative_positions": negatives},
        ),
        AssetCheckResult(
            check_name="fetched_equals_server_total",
            passed=total_matches,
            metadata={
                "fetched": report.fetched,
                "server_total": report.server_total,
                "total_reported": report.total_checked,
            },
            severity=AssetCheckSeverity.ERROR,
        ),
        AssetCheckResult(
            check_name="rejected_share_below_threshold",
            passed=report.rejected_share <= config.max_rejected_share,
            metadata={
                "rejected": report.rejected,
                "rejected_share": round(report.rejected_share, 6),
                "threshold": config.max_rejected_share,
            },
        ),
    ]
    metadata = {
        "rows": report.rows,
        "pages": report.pages,
        "requests": report.requests,
        "retries": report.retries,
        "throttled": report.throttled,
        "rejected": report.rejected,
        "duplicates": report.duplicates,
        "server_total": report.server_total,
        "seconds": round(report.seconds, 3),
        "rows_per_second": round(report.rows_per_second, 1),
        "paging_mode": report.paging_mode,
        "window_splits": report.splits,
        "unknown_interaction_types": MetadataValue.json(report.unknown_types),
        "dagster/row_count": report.rows,
    }
    return MaterializeResult(metadata=metadata, check_results=checks)
