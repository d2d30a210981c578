"""Retention: raw and staging rows older than N days go; the daily marts keep every day, and stay put."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from interactions_etl import warehouse
from interactions_etl.landing import land_records
from interactions_etl.marts import refresh_marts
from interactions_etl.retention import apply_retention
from interactions_etl.staging import refresh_staging
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.reliability.test_fault_matrix import MARTS_SETTINGS

START = date(2026, 10, 1)
DAILY = ("ctr_by_position", "search_ctr", "skip_return_signals", "query_health", "conversion_rates")


def daily_marts(con, before: date) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    return {
        name: con.execute(f"SELECT * FROM marts.{name} WHERE day < ? ORDER BY ALL", [before]).fetchall()
        for name in DAILY
    }


def test_retention_drops_old_rows_and_keeps_the_daily_marts(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    records = list(generate_traffic(TrafficConfig(seed=41, start=START, days=6, per_day=3000)).records())
    land_records(path, records, "history")
    con = warehouse.connect(path)
    refresh_staging(con)
    refresh_marts(con, MARTS_SETTINGS)
    today = START + timedelta(days=6)
    cutoff = today - timedelta(days=3)  # keep 3 days: Oct 4, 5, 6
    before = daily_marts(con, cutoff)
    assert all(before.values())

    kept = apply_retention(con, 3, today=today)
    assert kept.cutoff == cutoff and kept.raw_rows > 0 and kept.staging_rows > 0
    oldest = con.execute(
        "SELECT (SELECT min(partition_date) FROM raw.interactions), (SELECT min(event_date) FROM"
        " staging.interaction_events), (SELECT min(execution_date) FROM staging.search_executions)"
    ).fetchall()[0]
    assert all(day >= cutoff for day in oldest)

    # A late event for the day before the cutoff arrives, and the nightly refresh runs: the old days' marts,
    # built while their rows existed, do not change (the day before the cutoff is not rebuilt from half its data).
    late = dict(
        records[-1], interaction_id="int_late_0001", occurred_at=f"{cutoff - timedelta(days=1)}T12:00:00Z"
    )
    con.close()
    land_records(path, [late], "late")
    con = warehouse.connect(path)
    staged = refresh_staging(con)
    refresh_marts(con, MARTS_SETTINGS)
    assert all(day >= cutoff for day in staged.execution_days)
    assert daily_marts(con, cutoff) == before
    con.close()
