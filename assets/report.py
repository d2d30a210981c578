"""The position-bias report product managers read: an HTML file written after the marts refresh."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field

from interactions_etl import warehouse
from interactions_etl.assets.policies import warehouse_asset
from interactions_etl.report import DEFAULT_KEEP, write_report
from interactions_etl.report.data import Period
from interactions_etl.resources import ReportsResource, WarehouseResource


class ReportConfig(Config):
    """Overrides for one run; unset, the reports resource's folder and count apply (REPORTS_DIR,
    INTERACTIONS_REPORTS_KEEP)."""

    reports_dir: str | None = Field(
        default=None, description="Folder for position_bias_<end>.html and latest.html (unset: REPORTS_DIR)."
    )
    reports_keep: int | None = Field(
        default=None,
        ge=1,
        description="Dated reports to keep in reports_dir, newest first; older ones are deleted "
        f"(unset: INTERACTIONS_REPORTS_KEEP, else {DEFAULT_KEEP}). latest.html and other files are never touched.",
    )


@warehouse_asset(
    deps=[
        AssetKey(f"marts_{name}")
        for name in (
            "position_bias",
            "document_ctr",
            "search_ctr",
            "ctr_by_position",
            "conversion_rates",
            "skip_return_signals",
            "query_health",
        )
    ],
    group_name="reports",
    kinds={"html"},
    description="A self-contained HTML report of the position effect over the marts' position-bias window: "
    "headline figures against the previous period, the examination curve, opportunities, queries, segments and "
    "data quality. Written to <reports_dir>/position_bias_<end>.html and latest.html; the dated reports beyond the "
    "newest reports_keep (INTERACTIONS_REPORTS_KEEP, default 30) are deleted.",
)
def position_bias_report(
    context: AssetExecutionContext,
    config: ReportConfig,
    warehouse_db: WarehouseResource,
    reports: ReportsResource,
) -> MaterializeResult:
    keep = config.reports_keep or reports.keep
    folder = config.reports_dir or reports.folder
    con = warehouse_db.connect(read_only=True)
    try:
        window = warehouse.one(con, "report/mart_window")
        if window is None or window[1] is None:
            context.log.info("no position-bias fit yet: nothing to report")
            return MaterializeResult(metadata={"written": False})
        written = write_report(
            con,
            Period(*window),
            folder,
            warehouse_name=warehouse_db.name(),
            keep=keep,
        )
    finally:
        con.close()
    context.log.info(f"report written to {written.path}")
    if written.pruned:
        context.log.info(f"pruned {len(written.pruned)} older dated reports (keeping the newest {keep})")
    coverage = written.data.coverage
    return MaterializeResult(
        metadata={
            "written": True,
            "path": MetadataValue.path(str(written.path.resolve())),
            "latest": MetadataValue.path(str(written.latest.resolve())),
            "period": str(written.data.period),
            "days_with_data": coverage.days_with_data,
            "days": coverage.period.days,
            "plotly_bundle": written.bundle,
            "bytes": written.path.stat().st_size,
            "pruned": len(written.pruned),
            "summary": MetadataValue.md(written.summary_markdown),
        }
    )
