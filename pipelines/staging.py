"""Refresh the staging layer for the event days that raw loads changed (Dagster-free: the assets wrap it).

Raw loads log the event days they touched (raw.changed_event_dates). A refresh rebuilds
staging.interaction_events for those days, and the execution-level tables (search_executions, result_slots) for
those days and their neighbours, since a search's events can straddle midnight. Everything happens in one
transaction: a failed refresh leaves staging as it was, and a refresh with nothing new changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb

from interactions_etl import warehouse
from interactions_etl.batches import day_batches, rows_per_batch
from interactions_etl.retention import cutoff as retention_cutoff

STAGING_DDL = (
    "staging/create_schema",
    "staging/create_interaction_events",
    "staging/create_search_executions",
    "staging/create_result_slots",
    "staging/create_refresh_state",
    "staging/create_changed_execution_dates",
    "staging/create_absorbed_loads",
    "staging/comment_interaction_events",
    "staging/comment_search_executions",
    "staging/comment_result_slots",
    "staging/comment_bookkeeping",
)
STAGING_TABLES = ("interaction_events", "search_executions", "result_slots")
DEFAULT_CONVERSION_TYPES = ("add_to_cart", "purchase")


@dataclass(frozen=True)
class StagingSettings:
    short_dwell_ms: int = 10_000  # metrics.md: short dwell below 10 s
    long_dwell_ms: int = 30_000  # and long at 30 s (Kim et al. WSDM 2014)
    conversion_types: tuple[str, ...] = DEFAULT_CONVERSION_TYPES
    batch_rows: int | None = None  # interactions per batch of days; None: what the memory limit holds


@dataclass
class StagingReport:
    changed_days: list[date] = field(default_factory=list)  # event days rebuilt in interaction_events
    execution_days: list[date] = field(default_factory=list)  # days rebuilt in the execution-level tables
    rows: dict[str, int] = field(default_factory=dict)  # rows in each table after the refresh
    batches: int = 0  # the runs of days each statement went through (pipelines/batches.py)


def ensure_staging_tables(con: duckdb.DuckDBPyConnection) -> None:
    warehouse.ensure_raw_tables(con)
    warehouse.ensure_tables(con, STAGING_DDL)


def _pending_days(con: duckdb.DuckDBPyConnection, *, full: bool) -> warehouse.PendingDays:
    """The event days to rebuild: those of the loads not yet absorbed, or every day on a full refresh."""
    listed = warehouse.rows(con, "staging/pending_days_all" if full else "staging/pending_days_unabsorbed")
    newest = warehouse.one(con, "staging/newest_change")
    state = warehouse.one(con, "staging/read_refresh_state")
    absorbed_until = (newest and newest[0]) or (state and state[0]) or warehouse.NEVER
    return warehouse.PendingDays(days=[row[0] for row in listed], absorbed_until=absorbed_until)


def refresh_staging(
    con: duckdb.DuckDBPyConnection, settings: StagingSettings | None = None, *, full: bool = False
) -> StagingReport:
    settings = settings or StagingSettings()
    ensure_staging_tables(con)
    report = StagingReport()
    with warehouse.transaction(con):
        warehouse.run(con, "staging/absorb_legacy_watermark")
        pending = _pending_days(con, full=full)
        # Days before the retention cutoff keep the staging and mart rows built while their raw rows existed.
        kept_from = retention_cutoff(con)
        changed = [d for d in pending.days if kept_from is None or d >= kept_from]
        if changed:
            around = sorted({d + timedelta(days=shift) for d in changed for shift in (-1, 0, 1)
                             if kept_from is None or d + timedelta(days=shift) >= kept_from})  # fmt: skip
            changed_set = set(changed)
            sizes = dict(warehouse.rows(con, "staging/interactions_by_day", days=around))
            batches = day_batches(around, sizes, settings.batch_rows or rows_per_batch(con))
            changed_in = [[d for d in batch if d in changed_set] for batch in batches]
            # Each statement runs batch by batch (issue 32: a month in one statement ran out of memory). A
            # table's deletes all come before its inserts: a batch's delete also takes the executions that a
            # changed day's events belong to, which may be an earlier batch's new rows.
            for days in changed_in:
                if days:
                    warehouse.run(con, "staging/delete_interaction_events", days=days)
                    warehouse.run(con, "staging/insert_interaction_events", days=days)
            conversions = list(settings.conversion_types)
            for table in ("search_executions", "result_slots"):
                for days, changed_days in zip(batches, changed_in, strict=True):
                    warehouse.run(con, f"staging/delete_{table}", days=days, changed_days=changed_days)
            for days in batches:
                warehouse.run(
                    con, "staging/insert_search_executions", days=days, conversion_types=conversions
                )
            for days in batches:
                warehouse.run(
                    con,
                    "staging/insert_result_slots",
                    days=days,
                    conversion_types=conversions,
                    short_dwell_ms=settings.short_dwell_ms,
                    long_dwell_ms=settings.long_dwell_ms,
                )
            report.changed_days, report.execution_days, report.batches = changed, around, len(batches)
        # The marts read staging's changes after a watermark of these stamps, so a stamp must follow the last
        # one even when this machine's clock is behind the previous writer's (refreshes take turns on a lake).
        newest = warehouse.one(con, "marts/newest_change")
        previous = (newest and newest[0]) or warehouse.NEVER
        refreshed_at = max(datetime.now(UTC), previous + timedelta(microseconds=1))
        if report.execution_days:
            warehouse.run(con, "staging/log_changed_execution_dates", days=around, refreshed_at=refreshed_at)
        warehouse.run(con, "staging/insert_absorbed_loads", refreshed_at=refreshed_at)
        warehouse.record_refresh(con, "staging", pending, refreshed_at)
        report.rows = dict(zip(STAGING_TABLES, warehouse.one(con, "staging/row_counts"), strict=True))
    return report
