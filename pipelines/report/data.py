"""What the position-bias report shows, read from the marts for one period (Dagster-free; no HTML here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from interactions_etl import warehouse
from interactions_etl.estimators.position_bias import CurveSettings
from interactions_etl.marts import document_ctr, fit_position_bias

# Pairs and queries need this much traffic in the period before the report ranks them: below it, a CTR is noise.
MIN_PAIR_IMPRESSIONS = 100
MIN_QUERY_SEARCHES = 20
TOP = 10
# The opportunity lists show at most this many rows of one query: one query's results compete for the same
# slots, so its gains cannot all come true at once, and ten rows of one query hide every other query.
MAX_ROWS_PER_QUERY = 2
# A gain under one click in the period is not an opportunity (it would read "0" in the table).
MIN_GAIN_CLICKS = 1.0
# EM and pivot "agree" when no identified rank 1-10 differs by more than this (relative to rank 1).
AGREEMENT = 0.05


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of equal length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


@dataclass(frozen=True)
class Coverage:
    """Which days of a period have data (a search in the marts)."""

    period: Period
    days_with_data: int
    first_day: date | None
    last_day: date | None

    @property
    def empty(self) -> bool:
        return self.days_with_data == 0

    @property
    def complete(self) -> bool:
        return self.days_with_data == self.period.days


@dataclass(frozen=True)
class Headline:
    name: str
    value: float | None
    previous: float | None
    kind: Literal["count", "rate", "rank"]
    better: Literal["up", "down"]  # which direction is good news

    @property
    def change(self) -> float | None:
        """Relative change for counts, difference in points for rates and ranks; None without both values."""
        if self.value is None or self.previous is None:
            return None
        if self.kind == "count":
            return (self.value - self.previous) / self.previous if self.previous else None
        return self.value - self.previous


@dataclass(frozen=True)
class Quality:
    tracked_share: float | None  # searches that sent impressions
    coverage: float | None  # share of impressions whose pair moved between positions (all traffic)
    identifiable: bool
    note: str | None  # why not, when not
    em_converged: bool
    em_pivot_max_difference: float | None  # over identified ranks 1-10
    em_pivot_agree: bool | None


@dataclass
class ReportData:
    period: Period
    previous: Period
    headline: list[Headline]
    ctr_by_rank: pd.DataFrame  # rank_group, impressions, clicks, ctr, ctr_relative, examination (+ interval)
    curves: pd.DataFrame  # every segment's fit rows (marts.position_bias's columns)
    click_share: pd.DataFrame  # rank_group, clicks, share
    trend: pd.DataFrame  # day, searches, search_ctr, average_click_rank
    lost_opportunities: pd.DataFrame
    over_promoted: pd.DataFrame
    queries: pd.DataFrame
    quality: Quality
    coverage: Coverage
    previous_coverage: Coverage
    data_first_day: date | None  # the marts' first and last day with data, whatever the period
    data_last_day: date | None

    @property
    def empty(self) -> bool:
        return self.coverage.empty

    @property
    def comparable(self) -> bool:
        """Changes against the previous period mean something only when both periods have data every day: a
        period that runs past the data (or starts before it) would show a fall (or a rise) that is not there."""
        return self.coverage.complete and self.previous_coverage.complete

    def curve(self, segment_type: str = "all", segment: str = "all") -> pd.DataFrame:
        if self.curves.empty:
            return self.curves  # no fit (no shown results): not even its columns
        rows = self.curves[
            (self.curves["segment_type"] == segment_type) & (self.curves["segment"] == segment)
        ]
        return rows.sort_values("position").reset_index(drop=True)

    def attention_at(self, rank: int) -> tuple[float, float, float] | None:
        """(examination, low, high) at `rank` relative to rank 1, when identified."""
        rows = self.curve()
        if rows.empty:
            return None
        row = rows[rows["rank"] == rank]
        if row.empty or not bool(row["identifiable"].iloc[0]):
            return None
        return tuple(
            float(row[c].iloc[0]) for c in ("examination", "examination_ci_low", "examination_ci_high")
        )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def headline(con: duckdb.DuckDBPyConnection, period: Period, previous: Period) -> list[Headline]:
    now = _headline_counts(con, period)
    before = _headline_counts(con, previous)

    def figure(name, kind, better, numerator, denominator=None):  # type: ignore[no-untyped-def]
        if denominator is None:
            return Headline(name, float(now[numerator]), float(before[numerator]) or None, kind, better)
        return Headline(
            name,
            _ratio(now[numerator], now[denominator]),
            _ratio(before[numerator], before[denominator]),
            kind,
            better,
        )

    return [
        figure("Searches", "count", "up", "searches"),
        figure("Search CTR", "rate", "up", "searches_with_click", "tracked_searches"),
        figure("No-click rate", "rate", "down", "no_click_searches", "tracked_searches"),
        figure("Zero-results rate", "rate", "down", "zero_result_searches", "searches"),
        figure("Conversion rate", "rate", "up", "converted_searches", "conversion_tracked_searches"),
        figure("Average click rank", "rank", "down", "click_rank_sum", "clicks"),
        figure("Return-to-results rate", "rate", "down", "returns_to_results", "signal_clicks"),
        figure("Refinement rate", "rate", "down", "refined_searches", "health_searches"),
    ]


def coverage(con: duckdb.DuckDBPyConnection, period: Period) -> Coverage:
    # An aggregate without GROUP BY: always one row.
    ((days, first, last),) = warehouse.rows(con, "report/coverage", start=period.start, end=period.end)
    return Coverage(period, int(days), first, last)


def _headline_counts(con: duckdb.DuckDBPyConnection, period: Period) -> dict[str, float]:
    frame = warehouse.run(con, "report/headline", start=period.start, end=period.end).df()
    return {column: float(frame[column].iloc[0]) for column in frame.columns}


def _curves_for(con: duckdb.DuckDBPyConnection, period: Period, curve: CurveSettings) -> pd.DataFrame:
    """The mart's fit when it covers exactly this period, else a fit for the period (read-only)."""
    stored = warehouse.run(con, "report/stored_fit", start=period.start, end=period.end).df()
    return stored if len(stored) else fit_position_bias(con, period.start, period.end, curve)


def _rank_groups(ctr: pd.DataFrame, curve: pd.DataFrame) -> pd.DataFrame:
    """Observed CTR per rank group beside the all-traffic curve; 11-20 and 21+ pool the curve by impressions.
    Without a curve (no shown results), the observed columns alone, relative to rank 1 all the same."""
    if curve.empty:
        ctr = ctr.copy()
        top = ctr["ctr"].iloc[0] if len(ctr) else None
        ctr["ctr_relative"] = ctr["ctr"] / top if top else None
        return ctr
    curve = curve.copy()
    curve["rank_group"] = np.where(
        curve["rank"] <= 10, curve["rank"].astype(str), np.where(curve["rank"] <= 20, "11-20", "21+")
    )
    rows = []
    for group, part in curve.groupby("rank_group", sort=False):
        known = part[part["identifiable"]]
        weights = known["impressions"].astype(float)
        pooled = {
            column: float(np.average(known[column].astype(float), weights=weights))
            if len(known) and weights.sum() > 0
            else None
            for column in ("examination", "examination_ci_low", "examination_ci_high")
        }
        rows.append({"rank_group": group, **pooled, "identifiable": bool(len(known) == len(part))})
    merged = (
        ctr.merge(pd.DataFrame(rows), on="rank_group", how="left") if rows else ctr.assign(examination=None)
    )
    top = merged["ctr"].iloc[0] if len(merged) else None
    merged["ctr_relative"] = merged["ctr"] / top if top else None
    return merged


def _document_tables(
    con: duckdb.DuckDBPyConnection, period: Period, curves: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if curves.empty:
        return pd.DataFrame(), pd.DataFrame()
    con.register("position_bias_fit", curves)
    try:
        docs = document_ctr(con, period.start, period.end).df()
        signals = warehouse.run(con, "report/slot_signals", start=period.start, end=period.end).df()
    finally:
        con.unregister("position_bias_fit")
    pairs = docs[(docs["grain"] == "query_document") & (docs["impressions"] >= MIN_PAIR_IMPRESSIONS)]
    pairs = pairs[pairs["debiased_ctr"].notna()].merge(signals, on=["query_text", "feature_id"], how="left")
    pairs["skip_above_rate"] = pairs["skipped_above"] / pairs["impressions"]
    pairs["bounce_rate"] = pairs["returns_to_results"] / pairs["clicks"].where(pairs["clicks"] > 0)
    return under_promoted(pairs), over_promoted(pairs)


def diversified(frame: pd.DataFrame, top: int = TOP, per_query: int = MAX_ROWS_PER_QUERY) -> pd.DataFrame:
    """The `top` rows of largest expected gain with at most `per_query` rows of any one query (ties broken by
    query and document, so a re-run lists the same rows)."""
    ranked = frame.sort_values(
        ["expected_gain", "query_text", "feature_id"], ascending=[False, True, True], kind="stable"
    )
    kept = ranked[ranked.groupby("query_text", sort=False).cumcount() < per_query]
    return kept.head(top).reset_index(drop=True)


def under_promoted(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs shown below rank 3 on average. Expected gain: the clicks the result would have got had it been shown
    at rank 1 every time it was shown (impressions x debiased CTR), minus the clicks it got. It is gross: the
    results it would push down would lose some clicks, and two results of one query cannot both be first."""
    lost = pairs[pairs["mean_rank"] > 3].copy()
    lost["expected_gain"] = lost["impressions"] * lost["debiased_ctr"] - lost["clicks"]
    return diversified(lost[lost["expected_gain"] >= MIN_GAIN_CLICKS])


def over_promoted(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs in the top 3 on average with a debiased CTR below the best of the same query (among pairs with
    enough traffic). Expected gain: the clicks the attention it got (its expected examinations, in rank-1 units)
    would have brought had it gone to the query's best result, minus the clicks it brought."""
    best = pairs.groupby("query_text")["debiased_ctr"].max().rename("query_best_debiased_ctr")
    over = pairs[pairs["mean_rank"] <= 3].merge(best, on="query_text")
    over["expected_gain"] = over["expected_examinations"] * (
        over["query_best_debiased_ctr"] - over["debiased_ctr"]
    )
    return diversified(over[over["expected_gain"] >= MIN_GAIN_CLICKS])


def _quality(headline_now: dict[str, float], curve: pd.DataFrame) -> Quality:
    if curve.empty:
        return Quality(_ratio(headline_now["tracked_searches"], headline_now["searches"]), None, False,
                       "no shown results in the period", False, None, None)  # fmt: skip
    top10 = curve[(curve["rank"] <= 10) & curve["identifiable"]]
    difference = (top10["examination"].astype(float) - top10["pivot_examination"].astype(float)).abs().max()
    difference = None if pd.isna(difference) else float(difference)
    notes = curve["note"].dropna()
    rank_one = curve[curve["rank"] == 1]
    identifiable = bool(len(rank_one)) and bool(curve[curve["rank"] <= 2]["identifiable"].all())
    return Quality(
        tracked_share=_ratio(headline_now["tracked_searches"], headline_now["searches"]),
        coverage=float(curve["coverage"].iloc[0]),
        identifiable=identifiable,
        note=None if identifiable else (str(notes.iloc[0]) if len(notes) else "not identifiable"),
        em_converged=bool(curve["em_converged"].all()),
        em_pivot_max_difference=difference,
        em_pivot_agree=None if difference is None else difference <= AGREEMENT,
    )


def _nothing(period: Period, before: Coverage, first_day: date | None, last_day: date | None) -> ReportData:
    """A report on a period without data: empty tables, and no fit to attempt."""
    empty = pd.DataFrame()
    return ReportData(
        period=period, previous=period.previous(), headline=[], ctr_by_rank=empty, curves=empty,
        click_share=empty, trend=empty, lost_opportunities=empty, over_promoted=empty, queries=empty,
        quality=Quality(None, None, False, "no searches in the period", False, None, None),
        coverage=Coverage(period, 0, None, None), previous_coverage=before, data_first_day=first_day,
        data_last_day=last_day,
    )  # fmt: skip


def collect(con: duckdb.DuckDBPyConnection, period: Period, curve: CurveSettings | None = None) -> ReportData:
    curve = curve or CurveSettings()
    previous = period.previous()
    params = {"start": period.start, "end": period.end}
    ((first_day, last_day),) = warehouse.rows(con, "report/data_extent")
    now, before = coverage(con, period), coverage(con, previous)
    if now.empty:
        # Nothing to fit or chart: the page says so and points to the days that have data.
        return _nothing(period, before, first_day, last_day)
    curves = _curves_for(con, period, curve)
    everything = (
        curves[(curves["segment_type"] == "all")].sort_values("position") if len(curves) else pd.DataFrame()
    )
    ctr = warehouse.run(con, "report/ctr_by_rank", **params).df()
    share = warehouse.run(con, "report/click_share_by_rank", **params).df().T.reset_index()
    share.columns = ["rank_group", "clicks"]
    share["clicks"] = share["clicks"].fillna(0).astype(int)
    total = share["clicks"].sum()
    share["share"] = share["clicks"] / total if total else None
    lost, over = _document_tables(con, period, curves)
    return ReportData(
        period=period,
        previous=previous,
        headline=headline(con, period, previous),
        ctr_by_rank=_rank_groups(ctr, everything),
        curves=curves,
        click_share=share,
        trend=warehouse.run(con, "report/daily_trend", **params).df(),
        lost_opportunities=lost,
        over_promoted=over,
        queries=warehouse.run(
            con, "report/queries_needing_attention", **params, min_searches=MIN_QUERY_SEARCHES, limit=TOP
        ).df(),
        quality=_quality(_headline_counts(con, period), everything),
        coverage=now,
        previous_coverage=before,
        data_first_day=first_day,
        data_last_day=last_day,
    )
