"""Retention (Dagster-free): keep raw and staging rows for N days, the daily marts for ever.

INTERACTIONS_RETENTION_DAYS=N makes each staging refresh first drop raw rows (and quarantined ones) of
partitions older than N days before today (UTC), and the staging rows of those days. The cutoff is recorded in
raw.retention_state; from then on refreshes never rebuild a day before it, so its marts rows, computed while
the rows existed, stay as they were (a late event for such a day is kept in raw until its partition ages out,
but no longer changes the day's figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from interactions_etl import warehouse


@dataclass(frozen=True)
class RetentionReport:
    cutoff: date
    raw_rows: int
    staging_rows: int


def cutoff(con: duckdb.DuckDBPyConnection) -> date | None:
    """The first day raw and staging still hold in full, or None without retention."""
    row = warehouse.one(con, "raw/read_retention_cutoff")
    return row[0] if row else None


def apply_retention(
    con: duckdb.DuckDBPyConnection, keep_days: int, today: date | None = None
) -> RetentionReport:
    """Drop raw and staging rows before today - keep_days, in one transaction (the caller's staging tables
    must exist)."""
    today = today or datetime.now(UTC).date()
    first_kept = today - timedelta(days=keep_days)
    with warehouse.transaction(con):
        previous = cutoff(con)
        first_kept = max(first_kept, previous) if previous else first_kept  # a cutoff never moves back
        raw_rows = warehouse.one(con, "raw/delete_before_cutoff", cutoff=first_kept)[0]
        raw_rows += warehouse.one(con, "raw/delete_rejected_before_cutoff", cutoff=first_kept)[0]
        staging_rows = sum(
            warehouse.one(con, f"staging/{name}", cutoff=first_kept)[0]
            for name in (
                "delete_events_before_cutoff",
                "delete_executions_before_cutoff",
                "delete_slots_before_cutoff",
            )
        )
        warehouse.run(con, "raw/insert_retention_state", cutoff=first_kept, applied_at=datetime.now(UTC))
    return RetentionReport(first_kept, raw_rows, staging_rows)
