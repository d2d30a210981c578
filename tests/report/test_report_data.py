"""The report's figures on the hand-built day of tests/warehouse/test_staging.py, worked out here."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.marts import refresh_marts
from pipelines.report import _card
from pipelines.report.data import Headline, Period, collect
from pipelines.staging import refresh_staging
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
