"""The marts analysts query: one asset per table, rebuilt together for the days the staging layer changed."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
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
from interactions_etl.estimators.position_bias import CurveSettings
from interactions_etl.marts import MARTS, MartsSettings, refresh_marts
from interactions_etl.resources import WarehouseResource

# Each mart's description is its COMMENT ON TABLE (sql/marts/comment_<name>.sql), shown as is.
DESCRIPTIONS = {name: f"marts.{name}: {warehouse.table_description(f'marts.{name}')}" for name in MARTS}
# Each mart's [0, 1] check: its SQL file counts the rows with a rate outside.
RATE_CHECKS = {name: f"checks/{name}_rates_outside_0_1" for name in DESCRIPTIONS}
STAGING = [AssetKey("staging_search_executions"), AssetKey("staging_result_slots")]


def check_counts(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], int, list[str]]:
    """What the checks count: rows with a rate outside [0, 1] per mart and positions with more clicks than
    impressions (blocking), and the segments whose EM fit did not converge, by name (warning only)."""
    bad_rates = {name: warehouse.one(con, sql_file)[0] for name, sql_file in RATE_CHECKS.items()}
    clicks_above = warehouse.one(con, "checks/ctr_by_position_clicks_above_impressions")[0]
    not_converged = list(warehouse.one(con, "checks/position_bias_em_not_converged")[1])
    return bad_rates, clicks_above, not_converged


def failed_checks(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The blocking checks that do not pass now, by name (the publish step's look after catching up). A fit that
    did not converge is not among them: its segment's rows say so and the exact marts stand (issue 31)."""
    bad_rates, clicks_above, _ = check_counts(con)
    failed = [f"marts_{name}.rates_within_0_1" for name, bad in bad_rates.items() if bad]
    failed += ["marts_ctr_by_position.clicks_not_above_impressions"] if clicks_above else []
    return failed


def em_converged_result(not_converged: list[str]) -> AssetCheckResult:
    """The convergence check, never blocking: a segment whose fit did not converge publishes its counts with
    its curve NULL and a note (docs/position_bias.md). ERROR when it is all traffic (the report's headline
    curve and document_ctr's debiasing are then missing), WARN for a retriever or a device."""
    return AssetCheckResult(
        asset_key="marts_position_bias",
        check_name="em_converged",
        passed=not not_converged,
        severity=AssetCheckSeverity.ERROR if "all:all" in not_converged else AssetCheckSeverity.WARN,
        description=(
            f"EM did not converge for {', '.join(not_converged)}: curve withheld (examination NULL, note says why)"
            if not_converged
            else "EM converged for every segment with data"
        ),
        metadata={
            "segments_not_converged": len(not_converged),
            "segments": MetadataValue.json(not_converged),
        },
    )


class MartsConfig(Config):
    full_refresh: bool = Field(
        default=False, description="Rebuild every day instead of the days that changed."
    )
    position_bias_window_days: int = Field(
        default=28, ge=1, description="Days in the position-bias window, ending on the newest search day."
    )
    min_pair_impressions: int = Field(
        default=100, ge=1, description="Impressions a (query, document) pair needs to enter the EM fit."
    )
    min_coverage: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of impressions with position variation below which a curve is not identifiable.",
    )
    bootstrap_replicates: int = Field(
        default=100, ge=0, description="Bootstrap replicates behind the examination intervals."
    )
    em_max_iterations: int = Field(
        default=5000,
        ge=1,
        description="EM iterations a segment's fit may take; one that has not converged by then publishes "
        "its counts with its curve NULL and a note.",
    )

    def settings(self) -> MartsSettings:
        return MartsSettings(
            window_days=self.position_bias_window_days,
            curve=CurveSettings(
                min_pair_impressions=self.min_pair_impressions,
                min_coverage=self.min_coverage,
                bootstrap_replicates=self.bootstrap_replicates,
                max_iterations=self.em_max_iterations,
            ),
        )


@multi_asset(
    specs=[
        AssetSpec(
            f"marts_{name}",
            group_name="marts",
            description=text,
            deps=STAGING,
            kinds={"duckdb", "sql"},
        )
        for name, text in DESCRIPTIONS.items()
    ],
    check_specs=[
        *(
            AssetCheckSpec(
                "rates_within_0_1",
                asset=f"marts_{name}",
                blocking=True,
                description="Every rate (and interval bound) of the mart lies in [0, 1].",
            )
            for name in DESCRIPTIONS
        ),
        AssetCheckSpec(
            "clicks_not_above_impressions",
            asset="marts_ctr_by_position",
            blocking=True,
            description="No position has more clicks than impressions.",
        ),
        # Not blocking: one segment's shaky estimate is flagged in its rows, never a reason to withhold the
        # exact marts, the analysts' copy or the report (issue 31).
        AssetCheckSpec(
            "em_converged",
            asset="marts_position_bias",
            blocking=False,
            description="The EM fit of every segment with data converged; the metadata names those that did not "
            "(WARN; ERROR when it is all traffic).",
        ),
    ],
    can_subset=False,
    pool=WAREHOUSE_POOL,
    backfill_policy=single_run_backfill(),
)
def mart_tables(context: AssetExecutionContext, config: MartsConfig, warehouse_db: WarehouseResource):
    con = warehouse_db.connect()
    try:
        # On a lake, writers from anywhere take turns; the checks read what this refresh wrote.
        with warehouse_db.writer_lock("marts refresh"):
            report = refresh_marts(con, config.settings(), full=config.full_refresh)
            bad_rates, clicks_above, not_converged = check_counts(con)
        previews = {
            name: con.table(f"marts.{name}").limit(5).df().to_markdown(index=False) for name in DESCRIPTIONS
        }
        tables = {name: table_metadata(con, f"marts.{name}", report.rows[name]) for name in DESCRIPTIONS}
    finally:
        con.close()
    context.log.info(f"marts refreshed for {len(report.days)} days in {report.batches} batches")
    checks: dict[str, list[AssetCheckResult]] = {
        f"marts_{name}": [
            AssetCheckResult(
                asset_key=f"marts_{name}",
                check_name="rates_within_0_1",
                passed=bad == 0,
                metadata={"rows_outside": bad},
            )
        ]
        for name, bad in bad_rates.items()
    }
    checks["marts_ctr_by_position"].append(
        AssetCheckResult(
            asset_key="marts_ctr_by_position",
            check_name="clicks_not_above_impressions",
            passed=clicks_above == 0,
            metadata={"rows": clicks_above},
        )
    )
    checks["marts_position_bias"].append(em_converged_result(not_converged))
    if not_converged:
        context.log.warning(
            f"EM did not converge for {', '.join(not_converged)}: published with the curve NULL and a note"
        )
    fit = report.position_bias
    fit_metadata = (
        {
            "window_start": str(fit.window_start),
            "window_end": str(fit.window_end),
            "segments": fit.segments,
            "identifiable_segments": fit.identifiable_segments,
            "slots_in_window": fit.slots,
            "fit_seconds": round(fit.seconds, 2),
        }
        if fit
        else {"refitted": False}
    )
    for name in DESCRIPTIONS:
        key = f"marts_{name}"
        yield MaterializeResult(
            asset_key=key,
            metadata={
                **tables[name],
                "days_rebuilt": MetadataValue.json([d.isoformat() for d in report.days]),
                "preview": MetadataValue.md(previews[name]),
                **(fit_metadata if name in ("position_bias", "document_ctr") else {}),
            },
            check_results=checks[key],
        )
