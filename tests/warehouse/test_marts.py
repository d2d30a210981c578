"""The marts on the hand-built day of test_staging: expected values worked out here."""

from __future__ import annotations

import math
from datetime import date

import duckdb
import pytest

from interactions_etl import warehouse
from interactions_etl.marts import refresh_marts
from interactions_etl.staging import refresh_staging
from tests.warehouse.test_staging import DAY, E1, E2, E3, E4, E5, event, land

EVE = date(2026, 10, 4)
Z = 1.959964


def wilson(clicks: int, impressions: int) -> tuple[float, float]:
    """Wilson score interval, written out from Wilson (1927), independently of the SQL."""
    p = clicks / impressions
    centre = p + Z * Z / (2 * impressions)
    spread = Z * math.sqrt(p * (1 - p) / impressions + Z * Z / (4 * impressions**2))
    denominator = 1 + Z * Z / impressions
    return (centre - spread) / denominator, (centre + spread) / denominator


@pytest.fixture
def con(location: warehouse.Location) -> duckdb.DuckDBPyConnection:
    connection = warehouse.connect(location)
    land(connection, E1 + E2 + E3 + E4 + E5, "run-1")
    refresh_staging(connection)
    refresh_marts(connection)
    yield connection
    connection.close()


def test_wilson_reference_values() -> None:
    assert wilson(1, 1) == pytest.approx((0.2065, 1.0), abs=1e-4)  # the textbook 1-of-1 interval
    assert wilson(0, 1) == pytest.approx((0.0, 0.7935), abs=1e-4)


def test_ctr_by_position(con) -> None:
    got = {r[:4]: r[4:] for r in con.execute(
        "SELECT day, retriever_id, device, position, impressions, clicks, ctr, ctr_ci_low, ctr_ci_high"
        " FROM marts.ctr_by_position").fetchall()}  # fmt: skip
    clicked, not_clicked = (1, 1, 1.0, *wilson(1, 1)), (1, 0, 0.0, *wilson(0, 1))
    expected = {
        # e1 (mobile): ranks 1 and 3 clicked, 2 and 4 not
        (DAY, "r1", "mobile", 0): clicked,
        (DAY, "r1", "mobile", 1): not_clicked,
        (DAY, "r1", "mobile", 2): clicked,
        (DAY, "r1", "mobile", 3): not_clicked,
        # e2 (desktop): two shown, none clicked
        (DAY, "r1", "desktop", 0): not_clicked,
        (DAY, "r1", "desktop", 1): not_clicked,
        # e5 started the evening before; e3 showed nothing; e4 sent no impressions (examined slots stay out)
        (EVE, "r1", "mobile", 0): clicked,
    }
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        assert got[key] == pytest.approx(row, abs=1e-9), key


def test_wilson_on_a_larger_cell(location: warehouse.Location) -> None:
    connection = warehouse.connect(location)
    rows = []
    for i in range(20):  # 20 searches showing d0 at rank 1; 7 of them click it
        rows.append(
            event(100 + 2 * i, f"x{i}", "2026-10-05 09:00:00", ["impression"], 0, "d0", session=f"x{i}")
        )
        if i < 7:
            rows.append(
                event(101 + 2 * i, f"x{i}", "2026-10-05 09:00:05", ["click"], 0, "d0", session=f"x{i}")
            )
    land(connection, rows, "run-1")
    refresh_staging(connection)
    refresh_marts(connection)
    row = connection.execute(
        "SELECT impressions, clicks, ctr, ctr_ci_low, ctr_ci_high FROM marts.ctr_by_position"
    ).fetchone()
    connection.close()
    assert row == pytest.approx((20, 7, 0.35, *wilson(7, 20)), abs=1e-9)
    assert row[3] == pytest.approx(0.1812, abs=1e-4) and row[4] == pytest.approx(0.5671, abs=1e-4)


def test_search_ctr(con) -> None:
    got = {r[:2]: r[2:] for r in con.execute(
        "SELECT day, retriever_id, searches, tracked_searches, searches_with_click, search_ctr, no_click_searches,"
        " no_click_rate, zero_result_searches, zero_results_rate, clicks, click_rank_sum, average_click_rank,"
        " clicks_rank_1, clicks_rank_3, clicks_rank_4, clicks_rank_11_20, clicks_rank_21_plus"
        " FROM marts.search_ctr").fetchall()}  # fmt: skip
    assert got == {
        # e1, e2, e3: two tracked (e1 clicked, e2 not), e3 found nothing; clicks at ranks 1 and 3
        (DAY, "r1"): (3, 2, 1, 0.5, 1, 0.5, 1, 1 / 3, 2, 4, 2.0, 1, 1, 0, 0, 0),
        # e4: untracked, so no search CTR (NULL, not 0); its examined click at rank 4 still has a rank
        (DAY, "r2"): (1, 0, 0, None, 0, None, 0, 0.0, 1, 4, 4.0, 0, 0, 1, 0, 0),
        (EVE, "r1"): (1, 1, 1, 1.0, 0, 0.0, 0, 0.0, 1, 1, 1.0, 1, 0, 0, 0, 0),
    }


def test_marts_follow_only_the_days_staging_rebuilt(con) -> None:
    late = event(60, "e5", "2026-10-04 23:59:58", ["click"], 1, "d8", session="s5", occurred="2026-10-04 23:59:58",
                 recorded="2026-10-06 08:00:00")  # fmt: skip
    land(con, [late], "run-2")
    refresh_staging(con)
    report = refresh_marts(con)
    assert report.days == [date(2026, 10, 3), EVE, DAY]
    # e5 now has a second click at rank 2, on a slot it never reported shown: search CTR counts it, CTR by
    # position (shown slots only) does not.
    assert con.execute(
        "SELECT clicks, click_rank_sum FROM marts.search_ctr WHERE day = ?", [EVE]
    ).fetchone() == (2, 3)
    assert con.execute("SELECT count(*) FROM marts.ctr_by_position WHERE day = ?", [EVE]).fetchone() == (1,)
    assert refresh_marts(con).days == []


def test_search_ctr_clicks_agree_with_the_executions(con) -> None:
    per_day = con.execute(
        "SELECT execution_date, retriever_id, sum(clicks) FROM staging.search_executions GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert (
        con.execute("SELECT day, retriever_id, clicks FROM marts.search_ctr ORDER BY ALL").fetchall()
        == per_day
    )


def test_skip_return_signals(con) -> None:
    got = {r[:3]: r[3:] for r in con.execute(
        "SELECT day, retriever_id, position, impressions, explicit_skips, explicit_skip_rate, impressions_above_a_click,"
        " skipped_above, skip_above_rate, clicks, returns_to_results, bounce_rate, pogo_sticks, pogo_sticking_rate,"
        " short_dwell_clicks, short_dwell_rate, long_dwell_clicks, long_dwell_rate FROM marts.skip_return_signals"
    ).fetchall()}  # fmt: skip
    n = None  # a rate over zero
    assert got == {
        # rank 1: shown in e1 (clicked, 45 s long view) and e2 (no click); only e1 has a click below it
        (DAY, "r1", 0): (2, 0, 0.0, 1, 0, 0.0, 1, 0, 0.0, 0, 0.0, 0, 0.0, 1, 1.0),
        # rank 2: e1's explicitly skipped slot above its click at rank 3; e2's slot has no click below it
        (DAY, "r1", 1): (2, 1, 0.5, 1, 1, 1.0, 0, 0, n, 0, n, 0, n, 0, n),
        # rank 3: the 4 s click that bounced and was followed by another click
        (DAY, "r1", 2): (1, 0, 0.0, 0, 0, n, 1, 1, 1.0, 1, 1.0, 1, 1.0, 0, 0.0),
        (DAY, "r1", 3): (1, 0, 0.0, 0, 0, n, 0, 0, n, 0, n, 0, n, 0, n),
        # e4's examined slots: no impressions, but its click at rank 4 counts for the click-based rates
        (DAY, "r2", 0): (0, 0, n, 0, 0, n, 0, 0, n, 0, n, 0, n, 0, n),
        (DAY, "r2", 1): (0, 0, n, 0, 0, n, 0, 0, n, 0, n, 0, n, 0, n),
        (DAY, "r2", 2): (0, 0, n, 0, 0, n, 0, 0, n, 0, n, 0, n, 0, n),
        (DAY, "r2", 3): (0, 0, n, 0, 0, n, 1, 0, 0.0, 0, 0.0, 0, 0.0, 1, 1.0),
        (EVE, "r1", 0): (1, 0, 0.0, 0, 0, n, 1, 0, 0.0, 0, 0.0, 0, 0.0, 0, 0.0),
    }


def test_query_health(con) -> None:
    got = {r[:2]: r[2:] for r in con.execute(
        "SELECT day, query, searches, tracked_searches, no_click_searches, no_click_rate, zero_result_searches,"
        " zero_results_rate, refined_searches, refinement_rate FROM marts.query_health"
    ).fetchall()}  # fmt: skip
    assert got == {
        # e1 (clicked), e3 (zero results), e4 (untracked click): one tracked search, and it was clicked
        (DAY, "red shoes"): (3, 1, 0, 0.0, 1, 1 / 3, 0, 0.0),
        # e2: tracked, no click, refined a minute later
        (DAY, "red shoe"): (1, 1, 1, 1.0, 0, 0.0, 1, 1.0),
        (EVE, "red shoes"): (1, 1, 0, 0.0, 0, 0.0, 0, 0.0),
    }


def test_no_click_rate_is_over_tracked_searches_only(location: warehouse.Location) -> None:
    connection = warehouse.connect(location)
    land(connection, [
        event(200, "h1", "2026-10-05 15:00:00", ["impression"], 0, "d1", session="h1", query="Hat "),
        event(201, "h2", "2026-10-05 15:10:00", ["zero_results"], 0, "none", session="h2", query="hat",
              result_set_size=0),
    ], "run-1")  # fmt: skip
    refresh_staging(connection)
    refresh_marts(connection)
    row = connection.execute(
        "SELECT query, searches, tracked_searches, no_click_rate, zero_results_rate FROM marts.query_health"
    ).fetchall()
    connection.close()
    # 1 tracked search without a click: no-click rate 1/1 (not 1/2); zero results 1 of the 2 searches.
    assert row == [("hat", 2, 1, 1.0, 0.5)]


def test_conversion_rates(con) -> None:
    import json

    columns = ("searches, tracked_searches, converted_searches, impressions, clicks, add_to_cart, purchases, conversions,"
               " conversion_rate_per_search, conversion_rate_per_click, conversion_rate_per_impression, revenue_by_currency")  # fmt: skip
    by_position = {r[:3]: (*r[3:-1], json.loads(r[-1]) if r[-1] else None) for r in con.execute(
        f"SELECT day, retriever_id, position, {columns} FROM marts.conversion_rates WHERE grain = 'position'").fetchall()}  # fmt: skip
    n = None
    assert by_position == {
        # rank 1 shown in e1 (clicked, added to cart, bought for 20 USD) and e2
        (DAY, "r1", 0): (2, 2, 1, 2, 1, 1, 1, 1, 0.5, 1.0, 0.5, {"USD": 20.0}),
        (DAY, "r1", 1): (2, 2, 0, 2, 0, 0, 0, 0, 0.0, n, 0.0, n),
        (DAY, "r1", 2): (1, 1, 0, 1, 1, 0, 0, 0, 0.0, 0.0, 0.0, n),
        (DAY, "r1", 3): (1, 1, 0, 1, 0, 0, 0, 0, 0.0, n, 0.0, n),
        # e4's examined slots: nothing shown, so no per-search or per-impression rate
        (DAY, "r2", 0): (1, 0, 0, 0, 0, 0, 0, 0, n, n, n, n),
        (DAY, "r2", 1): (1, 0, 0, 0, 0, 0, 0, 0, n, n, n, n),
        (DAY, "r2", 2): (1, 0, 0, 0, 0, 0, 0, 0, n, n, n, n),
        (DAY, "r2", 3): (1, 0, 0, 0, 1, 0, 0, 0, n, 0.0, n, n),
        (EVE, "r1", 0): (1, 1, 0, 1, 1, 0, 0, 0, 0.0, 0.0, 0.0, n),
    }
    by_query = {r[:2]: (*r[2:-1], json.loads(r[-1]) if r[-1] else None) for r in con.execute(
        f"SELECT day, query, {columns} FROM marts.conversion_rates WHERE grain = 'query'").fetchall()}  # fmt: skip
    assert by_query == {
        # e1, e3, e4: e1 the only tracked search, and it converted; 4 shown slots, 3 clicks (e4's examined one too)
        (DAY, "red shoes"): (3, 1, 1, 4, 3, 1, 1, 1, 1.0, 1 / 3, 1 / 4, {"USD": 20.0}),
        (DAY, "red shoe"): (1, 1, 0, 2, 0, 0, 0, 0, 0.0, n, 0.0, n),
        (EVE, "red shoes"): (1, 1, 0, 1, 1, 0, 0, 0, 0.0, 0.0, 0.0, n),
    }


def test_the_interval_brackets_a_zero_ctr_exactly(location: warehouse.Location) -> None:
    """Regression: 0 clicks in 138 impressions gave a lower bound of +1.7e-18, above the CTR."""
    connection = warehouse.connect(location)
    land(connection, [event(300 + i, f"z{i}", "2026-10-05 09:00:00", ["impression"], 8, "d0", session=f"z{i}")
                      for i in range(138)], "run-1")  # fmt: skip
    refresh_staging(connection)
    refresh_marts(connection)
    row = connection.execute(
        "SELECT impressions, clicks, ctr, ctr_ci_low, ctr_ci_high FROM marts.ctr_by_position"
    ).fetchone()
    outside = warehouse.one(connection, "checks/ctr_by_position_rates_outside_0_1")[0]
    connection.close()
    assert row[:4] == (138, 0, 0.0, 0.0)
    assert row[4] == pytest.approx(wilson(0, 138)[1], abs=1e-12)
    assert outside == 0
