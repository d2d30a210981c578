"""Issue 14: no NaN anywhere an analyst looks. DuckDB 2 gives NaN, not NULL, for 0.0 / 0 (and NaN sorts first
under DESC), so every rate in the marts, in the period views and in the docs' example queries must be NULL over
a zero denominator. Tested on generated traffic with a retriever whose client sends no impressions
(`ret_legacy_widget` tracks no searches), and on a hand-made fixture for the period views."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from interactions_etl import warehouse
from interactions_etl.marts import PERIOD_VIEWS, refresh_marts
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.conftest import build_warehouse

ROOT = Path(__file__).resolve().parents[2]
# The nine days up to yesterday: the docs' examples filter on current_date, so the data must be recent.
CONFIG = TrafficConfig(seed=14, start=datetime.now(UTC).date() - timedelta(days=9), days=9, per_day=2500)
DAYS = [CONFIG.start + timedelta(days=i) for i in range(CONFIG.days)]
PERIODS = len({d - timedelta(days=d.weekday()) for d in DAYS}) + len({(d.year, d.month) for d in DAYS})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("no-nan") / "warehouse.duckdb"
    build_warehouse(path, generate_traffic(CONFIG).records(), "no-nan")
    return path


def float_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'marts'"
        " AND data_type IN ('DOUBLE', 'FLOAT') ORDER BY ALL"
    ).fetchall()


def test_the_fixture_has_a_retriever_that_tracks_nothing(built: Path) -> None:
    con = duckdb.connect(str(built), read_only=True)
    rows = con.execute(
        "SELECT sum(searches), sum(tracked_searches), count(search_ctr) FROM marts.search_ctr"
        " WHERE retriever_id = 'ret_legacy_widget'"
    ).fetchall()
    con.close()
    searches, tracked, rates = rows[0]
    assert searches > 0 and tracked == 0 and rates == 0  # its rates are NULL, not NaN


def test_no_mart_or_period_view_column_holds_nan(built: Path) -> None:
    con = duckdb.connect(str(built), read_only=True)
    try:
        columns = float_columns(con)
        assert {f"{v}" for v in PERIOD_VIEWS} <= {table for table, _ in columns}
        nans = {
            f"{table}.{column}": con.execute(
                f'SELECT count(*) FROM marts."{table}" WHERE isnan("{column}")'
            ).fetchall()[0][0]
            for table, column in columns
        }
        nulls = con.execute(
            "SELECT count(*) FROM marts.search_ctr_by_period WHERE retriever_id = 'ret_legacy_widget'"
            " AND search_ctr IS NULL AND tracked_searches = 0"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert {name: n for name, n in nans.items() if n} == {}
    assert nulls == PERIODS  # each of its weeks and months: NULL, where sum / sum gives NaN


def docs_sql_statements() -> list[str]:
    text = (ROOT / "docs" / "warehouse.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/warehouse.md has no SQL examples"
    statements = []
    for block in blocks:
        code = "\n".join(line for line in block.splitlines() if not line.strip().startswith("--"))
        statements += [s.strip() for s in code.split(";") if s.strip()]
    return statements


def test_no_example_query_of_the_docs_returns_nan(built: Path) -> None:
    con = duckdb.connect(str(built), read_only=True)
    try:
        results = {statement: con.execute(statement).fetchall() for statement in docs_sql_statements()}
    finally:
        con.close()
    with_nan = [
        statement
        for statement, rows in results.items()
        if any(isinstance(v, float) and math.isnan(v) for row in rows for v in row)
    ]
    assert with_nan == []
    assert any(rows for rows in results.values())  # the examples return rows on this data


def test_period_views_sum_first_and_divide_safely(tmp_path: Path) -> None:
    """Hand-made daily rows: retriever A tracks 10 searches with 3 clicked on Monday and 5 with 0 on Tuesday,
    then 4 with 4 on the next Monday; B tracks nothing. Worked out by hand: A's first week 3/15 = 0.2 (the mean
    of the daily rates would be 0.15), its second 4/4 = 1, its month 7/19; B's rates NULL."""
    con = warehouse.connect(tmp_path / "w.duckdb")
    refresh_marts(con)  # creates the tables and views, empty
    rows = [  # day, retriever, searches, tracked, with click, clicks, click rank sum
        (date(2026, 10, 5), "A", 12, 10, 3, 4, 9),
        (date(2026, 10, 6), "A", 5, 5, 0, 0, 0),
        (date(2026, 10, 12), "A", 4, 4, 4, 4, 4),
        (date(2026, 10, 5), "B", 7, 0, 0, 2, 5),
    ]
    for day, retriever, searches, tracked, clicked, clicks, rank_sum in rows:
        con.execute(
            "INSERT INTO marts.search_ctr BY NAME SELECT $day AS day, $r AS retriever_id, $s AS searches,"
            " $t AS tracked_searches, $c AS searches_with_click, $c / nullif($t, 0) AS search_ctr,"
            " $t - $c AS no_click_searches, ($t - $c) / nullif($t, 0) AS no_click_rate,"
            " 0 AS zero_result_searches, 0.0 AS zero_results_rate, $k AS clicks, $rs AS click_rank_sum,"
            " $rs / nullif($k, 0) AS average_click_rank,"
            + ", ".join(f"0 AS clicks_rank_{i}" for i in (*range(1, 11), "11_20", "21_plus")),
            {
                "day": day,
                "r": retriever,
                "s": searches,
                "t": tracked,
                "c": clicked,
                "k": clicks,
                "rs": rank_sum,
            },
        )
    got = {
        (period, str(start), retriever): rest
        for period, start, retriever, *rest in con.execute(
            "SELECT period, period_start, retriever_id, days_with_data, tracked_searches, search_ctr,"
            " no_click_rate, average_click_rank FROM marts.search_ctr_by_period ORDER BY ALL"
        ).fetchall()
    }
    con.close()
    assert got[("week", "2026-10-05", "A")] == [2, 15, pytest.approx(3 / 15), pytest.approx(12 / 15), 9 / 4]
    assert got[("week", "2026-10-12", "A")] == [1, 4, 1.0, 0.0, 1.0]
    assert got[("month", "2026-10-01", "A")] == [3, 19, pytest.approx(7 / 19), pytest.approx(12 / 19), 13 / 8]
    assert got[("week", "2026-10-05", "B")] == [1, 0, None, None, 5 / 2]
