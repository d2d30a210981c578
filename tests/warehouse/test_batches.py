"""Issue 32: a refresh cut into batches of days writes exactly what one statement over all the days writes, so the
memory limit decides how much a statement holds, never what the tables say."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from interactions_etl import warehouse
from interactions_etl.batches import (
    BYTES_PER_ROW,
    RESERVED_BYTES,
    day_batches,
    memory_limit_bytes,
    rows_per_batch,
)
from interactions_etl.landing import land_records
from interactions_etl.marts import DAILY_MARTS, MartsSettings, refresh_marts
from interactions_etl.staging import STAGING_TABLES, StagingSettings, refresh_staging
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.warehouse.test_staging import event, land

START = date(2026, 10, 1)
DAYS = 4


def test_batches_are_runs_of_consecutive_days_within_the_budget() -> None:
    d = [START + timedelta(days=i) for i in range(8)]
    sizes = {d[0]: 40, d[1]: 40, d[2]: 150, d[3]: 10, d[4]: 10, d[6]: 5, d[7]: 5}
    # d[2] is larger than the budget: alone; d[5] is missing from the days: the run stops there.
    assert day_batches([d[7], *d[:5], d[6]], sizes, 100) == [[d[0], d[1]], [d[2]], [d[3], d[4]], [d[6], d[7]]]
    assert day_batches(d[:3], {}, 1) == [d[:3]]  # days without rows cost nothing
    assert day_batches([], sizes, 100) == []


def test_the_batch_follows_the_connections_memory_limit() -> None:
    con = duckdb.connect(config={"memory_limit": "512MB"})  # DuckDB reports it as "488.2 MiB"
    assert memory_limit_bytes(con) == int(488.2 * 2**20)
    assert rows_per_batch(con) == (int(488.2 * 2**20) - RESERVED_BYTES) // BYTES_PER_ROW
    con = duckdb.connect(config={"memory_limit": "32MB"})
    assert rows_per_batch(con) == 1  # a day a batch


# A session that straddles the midnight between the second and the third day, where one-day batches cut it:
# its search starts at 23:59:30, is clicked, bought from and refined (recorded against it) after midnight, and
# the refined search follows.
MIDNIGHT = START + timedelta(days=2)  # 2026-10-03 00:00
STRADDLING = [
    event(9001, "x_late", "2026-10-02 23:59:30", ["impression"], 0, "d0", session="s_night"),
    event(9002, "x_late", "2026-10-02 23:59:30", ["impression"], 1, "d1", session="s_night"),
    event(9003, "x_late", "2026-10-03 00:00:20", ["click"], 1, "d1", session="s_night"),
    event(9004, "x_late", "2026-10-03 00:00:40", ["purchase"], 1, "d1", session="s_night",
          metadata={"order_value": 30, "currency": "usd"}),
    event(9005, "x_late", "2026-10-03 00:01:00", ["query_refinement"], 0, "d0", session="s_night"),
    event(9006, "x_next", "2026-10-03 00:01:10", ["impression"], 0, "d5", session="s_night"),
]  # fmt: skip


def build(path: Path, batch_rows: int) -> tuple[int, int]:
    """Generated traffic over DAYS days and the straddling session, refreshed in batches of batch_rows
    interactions; returns the number of batches staging and the marts went through."""
    config = TrafficConfig(seed=5, start=START, days=DAYS, per_day=1500)
    land_records(path, generate_traffic(config).records(), "generated")
    con = warehouse.connect(path)
    try:
        land(con, STRADDLING, "straddling")
        staged = refresh_staging(con, StagingSettings(batch_rows=batch_rows))
        marts = refresh_marts(con, MartsSettings(batch_rows=batch_rows))
    finally:
        con.close()
    return staged.batches, marts.batches


def tables(path: Path) -> dict[str, list[tuple]]:
    con = warehouse.connect(path, read_only=True)
    try:
        names = [f"staging.{t}" for t in STAGING_TABLES] + [
            f"marts.{m}" for m in (*DAILY_MARTS, "document_ctr")
        ]
        found = {name: con.sql(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in names}
        found["marts.position_bias"] = con.sql(
            "SELECT * EXCLUDE (fitted_at) FROM marts.position_bias ORDER BY ALL"
        ).fetchall()
        return found
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batches")
    assert build(folder / "one.duckdb", batch_rows=10**12) == (1, 1)
    # One day a batch: the days around the backfill (DAYS + 2 for staging, whose searches may end a day later).
    staging_batches, marts_batches = build(folder / "daily.duckdb", batch_rows=1)
    assert staging_batches >= DAYS + 1 and marts_batches >= DAYS
    return folder


def test_a_refresh_in_one_day_batches_writes_what_one_batch_writes(built: Path) -> None:
    whole, daily = tables(built / "one.duckdb"), tables(built / "daily.duckdb")
    for name, rows in whole.items():
        assert rows, name
        assert daily[name] == rows, name


def test_a_search_across_a_batch_boundary_is_one_row_with_all_its_events(built: Path) -> None:
    con = warehouse.connect(built / "daily.duckdb", read_only=True)
    try:
        executions = con.sql(
            "SELECT execution_id, execution_date, impressions, clicks, conversions, refined "
            "FROM staging.search_executions WHERE execution_id LIKE 'x_%' ORDER BY ALL"
        ).fetchall()
        slots = con.sql(
            "SELECT execution_id, position, execution_date, clicked, converted "
            "FROM staging.result_slots WHERE execution_id LIKE 'x_%' ORDER BY ALL"
        ).fetchall()
        day_before = MIDNIGHT - timedelta(days=1)
        purchases = con.sql(
            "SELECT purchases FROM marts.conversion_rates WHERE grain = 'position' AND day = $day "
            "AND retriever_id = 'r1' AND position = 1",
            params={"day": day_before},
        ).fetchall()
    finally:
        con.close()
    # Once each, on the day it started, with the click, the purchase and the refinement from after midnight.
    assert executions == [("x_late", day_before, 2, 1, 1, True), ("x_next", MIDNIGHT, 1, 0, 0, False)]
    assert slots == [
        ("x_late", 0, day_before, False, False),
        ("x_late", 1, day_before, True, True),
        ("x_next", 0, MIDNIGHT, False, False),
    ]
    assert purchases == [(1,)]
