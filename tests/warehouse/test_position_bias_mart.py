"""marts.position_bias and marts.document_ctr on searches built so that every figure can be worked out by hand.

The design (all on 2026-10-20, desktop, retriever r1, query "lamp", two results per page):
- 150 searches show A at rank 1 and B at rank 2; A is clicked in 60, B in 15;
- 50 searches show B at rank 1 and A at rank 2; B is clicked in 10, A in 10.
These counts are exactly theta = (0.8, 0.4) and alpha = (A 0.5, B 0.25) of the position-based model
(150 * 0.8 * 0.5 = 60, 150 * 0.4 * 0.25 = 15, 50 * 0.8 * 0.25 = 10, 50 * 0.4 * 0.5 = 10), so the EM must find
theta_1 / theta_0 = 0.5, while the naive curve, bent by A being better and shown on top more, says
(25 / 200) / (70 / 200) = 0.357. Pivot, weighting pairs by their traffic (200 each):
(200 * 0.2 + 200 * 0.1) / (200 * 0.4 + 200 * 0.2) = 0.5.
- 30 mobile searches always show C at rank 1 (6 clicks) and D at rank 2 (3 clicks): a deterministic ranker, so the
  mobile curve cannot be identified.
- 10 desktop searches 40 days earlier, outside the 28-day window, show A at rank 2 and click it every time.
"""

from __future__ import annotations

import duckdb
import pytest

from interactions_etl import warehouse
from interactions_etl.estimators.position_bias import CurveSettings
from interactions_etl.marts import MartsSettings, refresh_marts
from interactions_etl.staging import refresh_staging
from tests.warehouse.test_staging import event, land

SETTINGS = MartsSettings(curve=CurveSettings(min_pair_impressions=20, bootstrap_replicates=40))


def searches(
    count: int, first: int, top: str, second: str, clicks_top: int, clicks_second: int, **kw
) -> list:
    rows = []
    for i in range(first, first + count):
        execution = f"x{i}"
        when = kw.get("when", "2026-10-20 12:00:00")
        common = {"query": "lamp", "device": kw.get("device", "desktop"), "session": execution}
        rows.append(event(4 * i, execution, when, ["impression"], 0, top, **common))
        rows.append(event(4 * i + 1, execution, when, ["impression"], 1, second, **common))
        clicked_at = when[:-2] + "05"
        if i - first < clicks_top:
            rows.append(event(4 * i + 2, execution, clicked_at, ["click"], 0, top, **common))
        if count - (i - first) <= clicks_second:  # the last ones click the second result
            rows.append(event(4 * i + 3, execution, clicked_at, ["click"], 1, second, **common))
    return rows


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    connection = warehouse.connect(tmp_path_factory.mktemp("bias") / "w.duckdb")
    rows = (
        searches(150, 0, "A", "B", 60, 15)
        + searches(50, 150, "B", "A", 10, 10)
        + searches(30, 200, "C", "D", 6, 3, device="mobile")
        + searches(10, 230, "B", "A", 0, 10, when="2026-09-10 12:00:00")
    )
    land(connection, rows, "run-1")
    refresh_staging(connection)
    refresh_marts(connection, SETTINGS)
    yield connection
    connection.close()


def curve(con: duckdb.DuckDBPyConnection, segment_type: str, segment: str) -> list[tuple]:
    return con.execute(
        "SELECT position, rank, impressions, clicks, ctr, ctr_relative, examination, examination_ci_low,"
        " examination_ci_high, pivot_examination, position_coverage, coverage, identifiable, note, fitted_pairs,"
        " em_converged, window_start, window_end FROM marts.position_bias"
        " WHERE segment_type = ? AND segment = ? ORDER BY position",
        [segment_type, segment],
    ).fetchall()


def test_the_desktop_curve_is_the_models_not_the_naive_one(con) -> None:
    top, second = curve(con, "device", "desktop")
    assert top[:7] == (0, 1, 200, 70, pytest.approx(0.35), pytest.approx(1.0), 1.0)
    assert top[7:9] == (1.0, 1.0)  # rank 1 is the reference
    assert second[:6] == (1, 2, 200, 25, pytest.approx(0.125), pytest.approx(25 / 70))
    assert second[6] == pytest.approx(0.5, abs=1e-4)
    assert second[7] <= 0.5 <= second[8]  # the bootstrap interval brackets the truth
    assert 0.0 < second[8] - second[7] < 0.6
    assert second[9] == pytest.approx(0.5)  # pivot
    assert second[10:15] == (1.0, 1.0, True, None, 2)
    assert second[15] is True


def test_the_window_is_the_trailing_28_days(con) -> None:
    (row, *_) = curve(con, "device", "desktop")
    assert (row[-2].isoformat(), row[-1].isoformat()) == ("2026-09-23", "2026-10-20")


def test_a_deterministic_ranker_is_flagged_not_drawn(con) -> None:
    for row in curve(con, "device", "mobile"):
        assert row[6:9] == (None, None, None)  # no examination published
        assert row[11] == 0.0 and row[12] is False
        assert "cannot be told apart" in row[13]
    top, second = curve(con, "device", "mobile")
    assert (top[2:4], second[2:4]) == ((30, 6), (30, 3))  # the naive figures stay


def test_all_traffic_and_each_retriever(con) -> None:
    everything = curve(con, "all", "all")
    # C and D each sit at one position: their own alpha absorbs them, theta is unchanged.
    assert everything[1][6] == pytest.approx(0.5, abs=1e-4)
    assert everything[1][11] == pytest.approx(400 / 460)  # coverage: A and B move, C and D do not
    assert [r[2:4] for r in everything] == [(230, 76), (230, 28)]
    assert curve(con, "retriever", "r1")[1][2:4] == (230, 28)
    segments = con.execute(
        "SELECT DISTINCT segment_type, segment FROM marts.position_bias ORDER BY ALL"
    ).fetchall()
    assert segments == [("all", "all"), ("device", "desktop"), ("device", "mobile"), ("retriever", "r1")]


def test_document_ctr_is_debiased_with_the_devices_curve(con) -> None:
    got = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT feature_id, impressions, clicks, ctr, mean_rank, impressions_with_curve, clicks_with_curve,"
            " expected_examinations, debiased_ctr FROM marts.document_ctr WHERE grain = 'document'"
        ).fetchall()
    }
    # A: 150 at rank 1 (60 clicks) + 50 at rank 2 (10 clicks): 150 * 1 + 50 * 0.5 = 175 expected
    # examinations, 70 / 175 = 0.4 = theta_0 * alpha_A. B likewise: 50 + 150 * 0.5 = 125, 25 / 125 = 0.2.
    assert got["A"] == pytest.approx((200, 70, 0.35, 1.25, 200, 70, 175, 0.4), abs=1e-3)
    assert got["B"] == pytest.approx((200, 25, 0.125, 1.75, 200, 25, 125, 0.2), abs=1e-3)
    # D is mobile, whose curve is not identified: the all-traffic curve stands in (30 * 0.5 = 15).
    assert got["D"] == pytest.approx((30, 3, 0.1, 2.0, 30, 3, 15, 0.2), abs=1e-3)
    assert got["C"] == pytest.approx((30, 6, 0.2, 1.0, 30, 6, 30, 0.2), abs=1e-3)


def test_document_ctr_per_query_and_document(con) -> None:
    rows = con.execute(
        "SELECT query_text, feature_id, impressions, clicks FROM marts.document_ctr"
        " WHERE grain = 'query_document' ORDER BY feature_id"
    ).fetchall()
    assert rows == [
        ("lamp", "A", 200, 70),
        ("lamp", "B", 200, 25),
        ("lamp", "C", 30, 6),
        ("lamp", "D", 30, 3),
    ]


def test_the_checks_pass_and_a_rerun_changes_nothing(con) -> None:
    for check in (
        "position_bias_rates_outside_0_1",
        "position_bias_em_not_converged",
        "document_ctr_rates_outside_0_1",
    ):
        assert warehouse.one(con, f"checks/{check}")[0] == 0
    before = con.execute("SELECT * EXCLUDE (fitted_at) FROM marts.position_bias ORDER BY ALL").fetchall()
    refresh_marts(con, SETTINGS, full=True)
    after = con.execute("SELECT * EXCLUDE (fitted_at) FROM marts.position_bias ORDER BY ALL").fetchall()
    assert after == before  # the bootstrap is seeded by the executions' hashes: same data, same intervals
