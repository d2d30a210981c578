"""Refresh the marts for the execution days the staging layer rebuilt (Dagster-free: the assets wrap it).

Each mart is rebuilt day by day with delete-window-then-insert, in one transaction; the days come from
staging.changed_execution_dates after the marts' own watermark, so a nightly run costs what changed, not history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb

from pipelines import warehouse
from pipelines.staging import ensure_staging_tables

MARTS = ("ctr_by_position", "search_ctr", "skip_return_signals", "query_health", "conversion_rates")
MARTS_DDL = (
    "marts/create_schema",
    "marts/create_refresh_state",
    *(f"marts/create_{name}" for name in MARTS),
    "marts/comment_refresh_state",
    *(f"marts/comment_{name}" for name in MARTS),
)


@dataclass
class MartsReport:
    days: list[date] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def ensure_mart_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_staging_tables(con)
    for name in MARTS_DDL:
        warehouse.run(con, name)


def refresh_marts(con: duckdb.DuckDBPyConnection, *, full: bool = False) -> MartsReport:
    ensure_mart_tables(con)
    report = MartsReport()
    con.execute("BEGIN TRANSACTION")
    try:
        pending = warehouse.pending_days(con, "marts", full=full)
        days = pending.days
        if days:
            for name in MARTS:
                warehouse.run(con, f"marts/delete_{name}", days=days)
                warehouse.run(con, f"marts/insert_{name}", days=days)
        warehouse.record_refresh(con, "marts", pending, datetime.now(UTC))
        report.days = days
        report.rows = dict(zip(MARTS, warehouse.one(con, "marts/row_counts"), strict=True))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report
