"""The report's figures on the hand-built day of tests/warehouse/test_staging.py, worked out here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from interactions_etl import warehouse
from interactions_etl.marts import refresh_marts
from interactions_etl.report import (
    _card,
    _version,
    comparison_sentence,
    coverage_warning,
    no_data_sentence,
    not_compared_card,
    period_label,
    plotly_bundle,
    prune_reports,
    render,
    write_report,
)
from interactions_etl.report.data import (
    MAX_ROWS_PER_QUERY,
    TOP,
    Coverage,
    Headline,
    Period,
    collect,
    diversified,
    over_promoted,
    under_promoted,
)
from interactions_etl.staging import refresh_staging
from tests.warehouse.test_staging import DAY, E1, E2, E3, E4, E5, land


def test_the_previous_period_has_the_same_length() -> None:
    period = Period(date(2026, 10, 8), date(2026, 10, 14))
    assert period.days == 7
    assert period.previous() == Period(date(2026, 10, 1), date(2026, 10, 7))
    with pytest.raises(ValueError, match="before it starts"):
        Period(date(2026, 10, 2), date(2026, 10, 1))


def test_headline_figures_by_hand(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    land(con, E1 + E2 + E3 + E4 + E5, "run-1")
    refresh_staging(con)
    refresh_marts(con)
    data = collect(con, Period(DAY, DAY))
    con.close()
    assert data.previous == Period(date(2026, 10, 4), date(2026, 10, 4))
    got = {h.name: (h.value, h.previous) for h in data.headline}
    # DAY: e1..e4 are its searches; e1 and e2 tracked; e1 clicked (ranks 1 and 3), e4 (untracked) at rank 4;
    # e3 found nothing; e1 converted; e2 was refined.
    # The evening before: e5 alone, tracked, clicked at rank 1, nothing else.
    assert got == {
        "Searches": (4.0, 1.0),
        "Search CTR": (1 / 2, 1.0),
        "No-click rate": (1 / 2, 0.0),
        "Zero-results rate": (1 / 4, 0.0),
        "Conversion rate": (1 / 2, 0.0),
        "Average click rank": pytest.approx((8 / 3, 1.0)),
        "Return-to-results rate": (1 / 3, 0.0),  # of 3 clicks (e4's too), e1's rank-3 click bounced
        "Refinement rate": (1 / 4, 0.0),
    }
    searches, ctr = data.headline[0], data.headline[1]
    assert searches.change == pytest.approx(3.0) and _card(searches)["change"] == "+300.0% vs previous"
    assert ctr.change == pytest.approx(-0.5)
    assert _card(ctr) == {
        "name": "Search CTR",
        "value": "50.0%",
        "change": "-50.0 pts vs previous",
        "tone": "bad",
    }
    # Too little traffic for a position-bias fit: the report must say so rather than draw a curve.
    assert not data.quality.identifiable and "impressions" in data.quality.note


def test_a_rate_going_down_is_good_news_when_lower_is_better() -> None:
    card = _card(Headline("No-click rate", 0.20, 0.25, "rate", "down"))
    assert card["tone"] == "good" and card["change"] == "-5.0 pts vs previous"
    assert _card(Headline("Searches", 10.0, None, "count", "up"))["change"] == "no previous period"


def test_a_change_that_rounds_to_zero_has_no_sign_and_no_colour() -> None:
    # 50.00% against 50.004%: -0.004 points, shown at one decimal as 0.0, never "-0.0".
    card = _card(Headline("Search CTR", 0.5, 0.50004, "rate", "up"))
    assert card["change"] == "0.0 pts vs previous" and card["tone"] == "flat"
    assert _card(Headline("Searches", 1000.0, 1000.2, "count", "up"))["change"] == "0.0% vs previous"
    assert _card(Headline("Average click rank", 3.401, 3.404, "rank", "down"))["change"] == "0.00 vs previous"
    # Just past the rounding edge, the sign and the colour come back.
    assert _card(Headline("Search CTR", 0.5, 0.5006, "rate", "up")) == {
        "name": "Search CTR",
        "value": "50.0%",
        "change": "-0.1 pts vs previous",
        "tone": "bad",
    }


def test_a_window_without_data_is_an_empty_report_that_says_where_the_data_is(hand_built: Path) -> None:
    con = warehouse.connect(hand_built, read_only=True)
    try:
        data = collect(con, Period(date(2026, 11, 1), date(2026, 11, 7)))
    finally:
        con.close()
    assert data.empty and data.coverage.days_with_data == 0 and not data.comparable
    assert (data.data_first_day, data.data_last_day) == (date(2026, 10, 4), DAY)
    assert period_label(data) == "2026-11-01 to 2026-11-07 (no data)"
    assert no_data_sentence(data) == "The warehouse holds searches from 2026-10-04 to 2026-10-05."
    html = render(data, warehouse_name="w.duckdb", generated_at=datetime(2026, 11, 8, tzinfo=UTC))
    assert "No data for this window" in html and "from 2026-10-04 to 2026-10-05" in html
    assert "Plotly" not in html and len(html) < 20_000  # no charts, so no plotly.js


def test_a_window_running_past_the_data_states_its_coverage_and_compares_nothing(hand_built: Path) -> None:
    con = warehouse.connect(hand_built, read_only=True)
    try:
        # Two days, one with data (DAY); the two days before hold one with data (the evening before).
        data = collect(con, Period(DAY, date(2026, 10, 6)))
    finally:
        con.close()
    assert (data.coverage.days_with_data, data.coverage.first_day, data.coverage.last_day) == (1, DAY, DAY)
    assert data.previous_coverage.days_with_data == 1 and not data.comparable
    assert period_label(data) == "2026-10-05 to 2026-10-06 (data on 1 of its 2 days)"
    assert coverage_warning(data) == (
        "Only 1 of this window's 2 days has data (2026-10-05); every figure covers that day alone. "
        "The warehouse's data ends on 2026-10-05."
    )
    # The figures are still the day's own (as worked out above), with no change beside them.
    assert data.headline[0].value == 4.0
    assert not_compared_card(data) == "not compared: partial period"
    html = render(data, warehouse_name="w.duckdb", generated_at=datetime(2026, 10, 7, tzinfo=UTC))
    assert "vs previous" not in html and "not compared: partial period" in html
    assert "<title>Position bias report, 2026-10-05 to 2026-10-06 (data on 1 of its 2 days)</title>" in html


def test_a_complete_window_after_a_partial_one_is_not_compared_either(hand_built: Path) -> None:
    con = warehouse.connect(hand_built, read_only=True)
    try:
        complete = collect(con, Period(DAY, DAY))  # the day before has data: compared
        after_partial = collect(con, Period(date(2026, 10, 4), DAY))  # 10-02..10-03 before it: none
    finally:
        con.close()
    assert complete.comparable and not_compared_card(complete) is None
    assert comparison_sentence(complete) == "Changes are against the 1 day before (2026-10-04 to 2026-10-04)."
    assert after_partial.coverage.complete and after_partial.previous_coverage.empty
    assert not_compared_card(after_partial) == "no previous data"
    assert comparison_sentence(after_partial) == (
        "No change is shown: there is no data for the previous period (2026-10-02 to 2026-10-03)."
    )
    # A complete window after one with data on some of its days; and one with a gap inside it.
    week, before = Period(date(2026, 10, 8), date(2026, 10, 14)), Period(date(2026, 10, 1), date(2026, 10, 7))
    gap = replace(
        complete, period=week, previous=before, coverage=Coverage(week, 7, week.start, week.end),
        previous_coverage=Coverage(before, 3, date(2026, 10, 1), date(2026, 10, 7)),
    )  # fmt: skip
    assert not gap.comparable and not_compared_card(gap) == "not compared: partial previous period"
    assert comparison_sentence(gap) == (
        "No change is shown: the previous period (2026-10-01 to 2026-10-07) has data on only 3 of its 7 days."
    )
    assert coverage_warning(gap) is None
    holed = replace(gap, period=before, coverage=gap.previous_coverage, data_first_day=date(2026, 9, 1),
                    data_last_day=date(2026, 10, 31))  # fmt: skip
    assert coverage_warning(holed) == (
        "Only 3 of this window's 7 days have data (2026-10-01 to 2026-10-07); every figure covers those days "
        "alone. 4 days between them have none."
    )


def pair(query: str, doc: str, mean_rank: float, impressions: int, clicks: int, debiased: float,
         examinations: float) -> dict:  # fmt: skip
    return {"query_text": query, "feature_id": doc, "mean_rank": mean_rank, "impressions": impressions,
            "clicks": clicks, "debiased_ctr": debiased, "expected_examinations": examinations}  # fmt: skip


def test_the_opportunity_lists_keep_at_most_two_rows_per_query_and_their_gains_by_hand() -> None:
    assert MAX_ROWS_PER_QUERY == 2 and TOP == 10
    rows = [
        # Query "a": five under-promoted results; gain = impressions x debiased CTR - clicks.
        pair("a", "a1", 6.0, 1000, 100, 0.50, 200.0),  # 1000 x 0.5 - 100 = 400
        pair("a", "a2", 7.0, 1000, 90, 0.45, 200.0),  # 450 - 90 = 360
        pair("a", "a3", 8.0, 1000, 80, 0.40, 200.0),  # 320 (third of "a": left out)
        pair("a", "a4", 5.0, 1000, 70, 0.35, 200.0),  # 280 (left out)
        pair("a", "a0", 1.2, 2000, 900, 0.50, 1800.0),  # top 3: not under-promoted; the best of "a" (0.50)
        pair("a", "aa", 2.0, 1000, 300, 0.40, 750.0),  # top 3, debiased 0.40 < 0.50: over by 750 x 0.1 = 75
        pair("a", "ab", 2.9, 1000, 200, 0.45, 450.0),  # 450 x 0.05 = 22.5
        pair("a", "ac", 3.0, 1000, 150, 0.48, 320.0),  # 320 x 0.02 = 6.4 (third of "a": left out)
        # Queries "b".."l": one under-promoted result each, gains 250, 240, ..., 150.
        *(pair(q, f"{q}1", 4.0, 1000, 50, (300 - 10 * i) / 1000, 100.0) for i, q in enumerate("bcdefghijkl")),
        # A gain under one click is no opportunity: 100 x 0.0155 - 1 = 0.55.
        pair("m", "m1", 9.0, 100, 1, 0.0155, 10.0),
        # Over-promoted in "n" and in "o" by the same gain (exact in binary), the tie broken by query.
        pair("n", "n0", 2.5, 500, 250, 0.50, 500.0),  # the best of "n": no gain
        pair("n", "n1", 1.0, 500, 125, 0.25, 500.0),  # 500 x (0.50 - 0.25) = 125
        pair("o", "o0", 2.5, 500, 375, 0.75, 500.0),
        pair("o", "o1", 1.0, 500, 250, 0.50, 500.0),  # 500 x (0.75 - 0.50) = 125
    ]
    pairs = pd.DataFrame(rows)
    lost = under_promoted(pairs)
    assert list(zip(lost["feature_id"], lost["expected_gain"].round(6), strict=True)) == [
        ("a1", 400.0), ("a2", 360.0), ("b1", 250.0), ("c1", 240.0), ("d1", 230.0), ("e1", 220.0),
        ("f1", 210.0), ("g1", 200.0), ("h1", 190.0), ("i1", 180.0),
    ]  # fmt: skip
    assert lost.groupby("query_text").size().max() == 2
    over = over_promoted(pairs)
    assert list(zip(over["feature_id"], over["expected_gain"].round(6), strict=True)) == [
        ("n1", 125.0), ("o1", 125.0), ("aa", 75.0), ("ab", 22.5),
    ]  # fmt: skip
    assert over.set_index("feature_id").loc["n1", "query_best_debiased_ctr"] == 0.50
    assert diversified(pairs.assign(expected_gain=pairs["impressions"]), top=3, per_query=1)[
        "feature_id"
    ].tolist() == ["a0", "b1", "c1"]  # "a" once, ties (1000 each) by query then document


def test_the_basic_bundle_is_the_plotly_packages_version_and_the_full_one_draws_anything_else() -> None:
    name, source = plotly_bundle([go.Figure(go.Scatter(y=[1, 2])), go.Figure(go.Bar(y=[1]))])
    assert name == "basic" and "plotly.js (basic - minified) v" in source[:200]
    assert _version(source) == _version(get_plotlyjs())
    name, source = plotly_bundle([go.Figure(go.Scatter(y=[1, 2])), go.Figure(go.Heatmap(z=[[1]]))])
    assert name == "full" and source == get_plotlyjs()


def dated(folder: Path, *days: str) -> None:
    for day in days:
        (folder / f"position_bias_{day}.html").write_text(day)


def test_pruning_keeps_the_newest_dated_reports_and_nothing_else_is_touched(tmp_path: Path) -> None:
    days = [(date(2026, 9, 1) + timedelta(days=n)).isoformat() for n in range(35)]
    dated(tmp_path, *days)
    others = ["latest.html", "position_bias_notes.html", "position_bias_2026-13-45.html",
              "position_bias_2026-09-01.html.partial", "position_bias_2026-09-01.htm", "summary.md"]  # fmt: skip
    for name in others:
        (tmp_path / name).write_text("keep me")
    (tmp_path / "position_bias_2020-01-01.html").mkdir()  # a folder is not a report
    written = tmp_path / f"position_bias_{days[-1]}.html"
    pruned = prune_reports(tmp_path, 30, written=written)
    assert sorted(p.name for p in pruned) == [f"position_bias_{day}.html" for day in days[:5]]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [*others, "position_bias_2020-01-01.html", *(f"position_bias_{d}.html" for d in days[5:])]
    )
    # A report written for an older window stays, beside the 30 newest, until the next one is written.
    old = tmp_path / "position_bias_2025-01-01.html"
    old.write_text("old")
    assert prune_reports(tmp_path, 30, written=old) == []
    assert [p.name for p in prune_reports(tmp_path, 30, written=written)] == [old.name]
    with pytest.raises(ValueError, match="at least 1"):
        prune_reports(tmp_path, 0)


def test_write_report_prunes_to_keep(hand_built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    dated(folder, "2026-10-01", "2026-10-02", "2026-10-03")
    con = warehouse.connect(hand_built, read_only=True)
    try:
        written = write_report(con, Period(DAY, DAY), folder, keep=2)
    finally:
        con.close()
    assert written.path.name == "position_bias_2026-10-05.html"
    assert sorted(p.name for p in written.pruned) == [
        "position_bias_2026-10-01.html",
        "position_bias_2026-10-02.html",
    ]
    assert sorted(p.name for p in folder.iterdir()) == [
        "latest.html", "position_bias_2026-10-03.html", "position_bias_2026-10-05.html"
    ]  # fmt: skip


def test_a_window_with_searches_but_no_impressions_renders_without_a_curve(tmp_path: Path) -> None:
    # e3 found nothing, e4's client sent no impressions: searches to count, no shown result to fit.
    con = warehouse.connect(tmp_path / "w.duckdb")
    try:
        land(con, E3 + E4, "run-1")
        refresh_staging(con)
        refresh_marts(con)
        data = collect(con, Period(DAY, DAY))
    finally:
        con.close()
    assert not data.empty and data.curves.empty and data.headline[0].value == 2.0
    assert data.quality.note == "no shown results in the period"
    html = render(data, warehouse_name="w.duckdb", generated_at=datetime(2026, 10, 6, tzinfo=UTC))
    assert "cannot be measured from this period's data: no shown results in the period" in html
