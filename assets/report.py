"""The position-bias report product managers read: an HTML file written after the marts refresh."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

import os

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field

from assets.policies import warehouse_asset
from pipelines import warehouse
from pipelines.report import write_report
from pipelines.report.data import Period
from pipelines.resources import WarehouseResource

DEFAULT_REPORTS_DIR = "reports"


class ReportConfig(Config):
    reports_dir: str = Field(
        default_factory=lambda: os.environ.get("REPORTS_DIR") or DEFAULT_REPORTS_DIR,
        description="Folder for position_bias_<end>.html and latest.html (REPORTS_DIR, else ./reports).",
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
    "data quality. Written to <reports_dir>/position_bias_<end>.html and latest.html.",
)
def position_bias_report(
    context: AssetExecutionContext, config: ReportConfig, warehouse_db: WarehouseResource
) -> MaterializeResult:
    con = warehouse_db.connect(read_only=True)
    try:
        window = warehouse.one(con, "report/mart_window")
        if window is None or window[1] is None:
            context.log.info("no position-bias fit yet: nothing to report")
            return MaterializeResult(metadata={"written": False})
        written = write_report(
            con, Period(*window), config.reports_dir, warehouse_name=os.path.basename(warehouse_db.path)
        )
    finally:
        con.close()
    context.log.info(f"report written to {written.path}")
    return MaterializeResult(
        metadata={
            "written": True,
            "path": MetadataValue.path(str(written.path.resolve())),
            "latest": MetadataValue.path(str(written.latest.resolve())),
            "period": str(written.data.period),
            "summary": MetadataValue.md(written.summary_markdown),
        }
    )
