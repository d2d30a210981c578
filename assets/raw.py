"""`raw_interactions`: one UTC day of Mixpeek interactions landed in raw.interactions, exactly once."""
# No `from __future__ import annotations` here: Dagster reads the asset signature at run time.

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import NoReturn

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    Config,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
)
from pydantic import Field

from interactions_etl import warehouse
from interactions_etl.assets.policies import (
    LOAD_POOL,
    WAREHOUSE_POOL,
    newest_expected_day,
    nightly_freshness,
    one_run_per_partition,
    table_metadata,
    warehouse_asset,
)
from interactions_etl.landing import DEFAULT_MAX_REJECTED_SHARE, LoadAuditError, LoadReport, load_day
from interactions_etl.mixpeek.errors import MixpeekApiError
from interactions_etl.redaction import holds_secret, redact
from interactions_etl.resources import MixpeekResource, WarehouseResource


def daily_partitions(start: date) -> DailyPartitionsDefinition:
    """Days are UTC (metrics.md); the first one is INTERACTIONS_START_DATE, so a team can backfill further back."""
    return DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


# Audited before each day commits (pipelines/landing/: a failing day is rolled back and fails the run),
# then reported here on what was committed.
CHECKS = {
    "unique_interaction_id": "No interaction_id of the partition appears twice in raw.interactions.",
    "positions_non_negative": "Every position is >= 0 (positions are 0-based).",
    "fetched_equals_server_total": "The distinct records received, plus the extra copies of records the server "
    "proved it holds more than once, equal the total the server reported for the window (a day not yet over is "
    "rechecked by the lookback).",
    "rejected_share_below_threshold": "Records quarantined in raw.rejected_interactions stay under the threshold.",
}
NEWEST_DAY_CHECK = "newest_day_loaded"
SOURCE_DUPLICATES_CHECK = "source_duplicates"


class RawInteractionsConfig(Config):
    max_rejected_share: float = Field(
        default=DEFAULT_MAX_REJECTED_SHARE,
        description="Share of a day's records that may fail validation before the day fails its audit.",
    )


def _fails_every_day(exc: Exception) -> bool:
    """A refused key or namespace, or a server that never answered: nothing about one day."""
    return isinstance(exc, MixpeekApiError) and (
        exc.status in (401, 403, 404) or exc.error_type == "ConnectError"
    )


def _reason(day: date, exc: Exception, secrets: Sequence[str]) -> str:
    """The day's one-line reason, secrets redacted: it is logged and stored by Dagster."""
    text = str(exc) if isinstance(exc, LoadAuditError) else f"{day}: {exc}"  # an audit's names its day
    return redact(text, secrets)


def record_landed(context: AssetExecutionContext, reports: list[LoadReport]) -> None:
    """One materialization per landed day, for a run that fails: Dagster counts a range run's partitions one
    by one, so these days show as materialized and the rest of the range, planned and never materialized, as
    failed once the run fails (a backfill of failed and missing partitions picks those up)."""
    for r in reports:
        context.log_event(
            AssetMaterialization(
                asset_key=context.asset_key,
                partition=r.partition_date.isoformat(),
                description="Landed in a run in which another day failed.",
                metadata={
                    "rows": r.rows,
                    "rejected": r.rejected,
                    "duplicates": r.duplicates,
                    "server_total": r.server_total,
                    "pages": r.pages,
                    "requests": r.requests,
                    "retries": r.retries,
                    "seconds": round(r.seconds, 3),
                },
            )
        )


def fail_the_days(
    context: AssetExecutionContext,
    days: list[date],
    reports: list[LoadReport],
    failed: dict[date, Exception],
    secrets: Sequence[str] = (),
) -> NoReturn:
    """Record the landed days, then fail the step naming each failed day and its reason. The failure skips what
    is downstream in this run; `interactions load` refreshes it in a second run (docs/orchestration.md)."""
    record_landed(context, reports)
    landed = [r.partition_date.isoformat() for r in reports]
    not_tried = [d.isoformat() for d in days if d not in failed and d.isoformat() not in landed]
    reason_of = {day.isoformat(): _reason(day, exc, secrets) for day, exc in failed.items()}
    reasons = " | ".join(reason_of.values())
    if len(days) == 1:
        description = reasons
    else:
        description = f"{len(failed)} of {len(days)} days failed: {reasons}"
        if not_tried:
            description += f" | not tried after it: {', '.join(not_tried)}"
        description += f". Landed: {', '.join(landed)}" if landed else ". No day landed"
    raise Failure(
        description=description,
        metadata={
            "failed_days": MetadataValue.json(reason_of),
            "landed_days": MetadataValue.json(landed),
            "not_tried_days": MetadataValue.json(not_tried),
        },
    ) from _chained(next(iter(failed.values())), secrets)  # --verbose shows its traceback under it


def _chained(exc: Exception, secrets: Sequence[str]) -> Exception | None:
    """The exception to chain under a failure, or None where its text holds a secret (Dagster stores both)."""
    return None if holds_secret(str(exc), secrets) else exc


def check_specs(freshness_deadline: time) -> list[AssetCheckSpec]:
    """The audits (blocking: a day failing one never commits) and the two warnings."""
    return [
        *(
            AssetCheckSpec(name, asset="raw_interactions", description=text, blocking=True)
            for name, text in CHECKS.items()
        ),
        AssetCheckSpec(
            SOURCE_DUPLICATES_CHECK,
            asset="raw_interactions",
            description="The server holds no record more than once. A warning only: a record held twice "
            "lands once (its copies counted against the server's total), and a copy with other content is "
            "quarantined, the copy with the newest timestamp, then the larger content hash, kept.",
        ),
        AssetCheckSpec(
            NEWEST_DAY_CHECK,
            asset="raw_interactions",
            description="The newest day in raw.interactions is at least the newest day the nightly schedule "
            f"should have loaded by now (yesterday from {freshness_deadline:%H:%M} UTC on). A warning only: "
            "a backfill of old days still refreshes everything downstream.",
        ),
    ]


def build_raw_interactions(
    partitions: DailyPartitionsDefinition, freshness_deadline: time, *, parallel: bool = False
) -> AssetsDefinition:
    """The asset for the configured partitions and freshness deadline (INTERACTIONS_START_DATE,
    INTERACTIONS_FRESHNESS_DEADLINE_UTC), built by the definitions from the settings. `parallel` (a lake):
    the loads' own pool, and a backfill as one run per day."""

    @warehouse_asset(
        pool=LOAD_POOL if parallel else WAREHOUSE_POOL,
        backfill_policy=one_run_per_partition() if parallel else None,
        name="raw_interactions",
        group_name="raw",
        partitions_def=partitions,
        kinds={"duckdb", "python"},
        freshness_policy=nightly_freshness(freshness_deadline),
        description=warehouse.table_description("raw.interactions"),
        check_specs=check_specs(freshness_deadline),
    )
    def raw_interactions(
        context: AssetExecutionContext,
        config: RawInteractionsConfig,
        mixpeek: MixpeekResource,
        warehouse_db: WarehouseResource,
    ) -> MaterializeResult:
        # One partition for the schedule, a range for a backfill (single-run policy): each day is its own
        # transaction, so a day that fails is left as it was and the loop goes on to the next (issue 25).
        days = [date.fromisoformat(key) for key in context.partition_keys]
        reports, failed = load_each_day(context, days, config, mixpeek, warehouse_db)
        if failed:
            fail_the_days(context, days, reports, failed, [mixpeek.api_key])
        con = warehouse_db.connect(read_only=True)
        try:
            newest_loaded = warehouse.one(con, "checks/raw_interactions_newest_day")[0]
            table = table_metadata(
                con, "raw.interactions", warehouse.one(con, "checks/raw_interactions_row_count")[0]
            )
        finally:
            con.close()
        expected_newest = newest_expected_day(datetime.now(UTC), freshness_deadline)
        return MaterializeResult(
            metadata={**run_metadata(reports), **table},  # dagster/row_count: the table's rows, beside `rows`
            check_results=check_results(reports, config.max_rejected_share, newest_loaded, expected_newest),
        )

    return raw_interactions


def load_each_day(
    context: AssetExecutionContext,
    days: list[date],
    config: RawInteractionsConfig,
    mixpeek: MixpeekResource,
    warehouse_db: WarehouseResource,
) -> tuple[list[LoadReport], dict[date, Exception]]:
    """Land each day in its own transaction: the reports of the days landed, and the days that failed with why.
    A failure that is not about one day (the warehouse locked, the disk full) stops the run at once."""
    reports: list[LoadReport] = []
    failed: dict[date, Exception] = {}
    pseudonymiser = warehouse_db.pseudonymiser()  # INTERACTIONS_PSEUDONYMISE_KEY, when set
    with mixpeek.client() as client:
        for day in days:
            try:
                report = load_day(
                    client,
                    warehouse_db.location(),
                    day,
                    context.run.run_id,
                    page_size=mixpeek.page_size,
                    memory_limit=warehouse_db.memory_limit_in_effect(),
                    temp_directory=warehouse_db.temp_directory,
                    lock_timeout_seconds=warehouse_db.lock_timeout_seconds,
                    pseudonymiser=pseudonymiser,
                    max_rejected_share=config.max_rejected_share,
                )
            except (LoadAuditError, MixpeekApiError) as exc:
                failed[day] = exc
                context.log.error(_reason(day, exc, [mixpeek.api_key]))
                if _fails_every_day(exc):  # a wrong key or URL: the other days would only repeat it
                    break
                continue
            except Exception:
                # The next days would fail alike; the days landed before it still count as materialized.
                record_landed(context, reports)
                raise
            reports.append(report)
            _log_day(context, day, report)
    return reports, failed


def _log_day(context: AssetExecutionContext, day: date, report: LoadReport) -> None:
    context.log.info(
        f"{day}: {report.rows} rows, {report.rejected} rejected, {report.duplicates} duplicates, "
        f"{report.pages} pages, {report.requests} requests, {report.retries} retries in {report.seconds:.1f} s"
    )
    if report.source_duplicates or report.conflicting_copies or report.copies_across_days:
        context.log.warning(
            f"{day}: the server holds {report.source_duplicates} extra copies of records it holds more than "
            f"once: landed once; {report.conflicting_copies} copies with other content and "
            f"{report.copies_across_days} older copies of ids also in another day quarantined "
            "(raw.rejected_interactions)"
        )


def _total(reports: list[LoadReport], name: str) -> int:
    return sum(getattr(r, name) for r in reports)


def check_results(
    reports: list[LoadReport], max_rejected_share: float, newest_loaded: date | None, expected_newest: date
) -> list[AssetCheckResult]:
    """The audits' figures of each day as it committed (a day failing one never commits), and the warnings."""
    duplicates, negatives = _total(reports, "duplicate_rows"), _total(reports, "negative_positions")
    mismatched = [r.partition_date.isoformat() for r in reports if r.count_disagrees]
    worst_rejected_share = max(r.rejected_share for r in reports)
    copies = {
        name: _total(reports, name)
        for name in ("source_duplicates", "conflicting_copies", "copies_across_days")
    }
    return [
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
            passed=not mismatched,
            metadata={
                "received_distinct": _total(reports, "received"),
                "fetched_with_duplicates": _total(reports, "fetched"),
                "server_total": _total(reports, "server_total"),
                "days_still_open": MetadataValue.json(
                    [r.partition_date.isoformat() for r in reports if r.window_open]
                ),
                "days_not_matching": MetadataValue.json(mismatched),
                "total_reported": all(r.total_checked for r in reports),
            },
        ),
        AssetCheckResult(
            check_name="rejected_share_below_threshold",
            passed=worst_rejected_share <= max_rejected_share,
            metadata={
                "rejected": _total(reports, "rejected"),
                "worst_day_rejected_share": round(worst_rejected_share, 6),
                "threshold": max_rejected_share,
            },
        ),
        AssetCheckResult(
            check_name=SOURCE_DUPLICATES_CHECK,
            passed=not any(copies.values()),
            severity=AssetCheckSeverity.WARN,
            metadata={
                "source_duplicates": copies["source_duplicates"],
                "conflicting_copies_quarantined": copies["conflicting_copies"],
                "copies_in_other_days_quarantined": copies["copies_across_days"],
                "days_with_source_duplicates": MetadataValue.json(
                    [r.partition_date.isoformat() for r in reports if r.source_duplicates]
                ),
            },
        ),
        AssetCheckResult(
            check_name=NEWEST_DAY_CHECK,
            passed=newest_loaded is not None and newest_loaded >= expected_newest,
            severity=AssetCheckSeverity.WARN,
            metadata={"newest_day_loaded": str(newest_loaded), "newest_day_expected": str(expected_newest)},
        ),
    ]


def run_metadata(reports: list[LoadReport]) -> dict[str, object]:
    """What the run loaded, summed over its days, with a table of the days."""
    seconds = sum(r.seconds for r in reports)
    unknown: dict[str, int] = {}
    for r in reports:
        for name, count in r.unknown_types.items():
            unknown[name] = unknown.get(name, 0) + count
    summed = ("rows", "pages", "requests", "retries", "throttled", "rejected", "duplicates", "source_duplicates",
              "conflicting_copies", "copies_across_days", "server_total")  # fmt: skip
    return {
        **{name: _total(reports, name) for name in summed},
        "seconds": round(seconds, 3),
        "rows_per_second": round(_total(reports, "rows") / seconds, 1) if seconds else 0.0,
        "paging_mode": ", ".join(sorted({r.paging_mode for r in reports})),
        "window_splits": _total(reports, "splits"),
        "unknown_interaction_types": MetadataValue.json(unknown),
        "days": MetadataValue.md(
            "| day | rows | rejected | requests | retries | seconds |\n|---|---:|---:|---:|---:|---:|\n"
            + "\n".join(
                f"| {r.partition_date} | {r.rows} | {r.rejected} | {r.requests} | {r.retries} | {r.seconds:.1f} |"
                for r in reports
            )
        ),
    }
