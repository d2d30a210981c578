"""Refresh the marts for the execution days the staging layer rebuilt (Dagster-free: the assets wrap it).

The daily marts are rebuilt day by day with delete-window-then-insert, in one transaction; the days come from
staging.changed_execution_dates after the marts' own watermark, so a nightly run costs what changed, not history.
When any day changed, the position-bias fit and the document CTRs that depend on it are recomputed over a
trailing window (default 28 days) ending on the newest day: their cost is the window's, not history's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd

from interactions_etl import warehouse
from interactions_etl.batches import day_batches, rows_per_batch
from interactions_etl.estimators.position_bias import CurveEstimate, CurveSettings, ShownSlots, estimate_curve
from interactions_etl.staging import StagingReport, StagingSettings, ensure_staging_tables, refresh_staging

DAILY_MARTS = ("ctr_by_position", "search_ctr", "skip_return_signals", "query_health", "conversion_rates")
WINDOW_MARTS = ("position_bias", "document_ctr")  # recomputed over the trailing window, in this order
MARTS = DAILY_MARTS + WINDOW_MARTS
# Views over the daily marts by week and by month: sums first, then safe division (no NaN for analysts).
PERIOD_VIEWS = tuple(f"{name}_by_period" for name in DAILY_MARTS)
MARTS_DDL = (
    "marts/create_schema",
    "marts/create_refresh_state",
    *(f"marts/create_{name}" for name in MARTS),
    *(f"marts/create_{name}" for name in PERIOD_VIEWS),
    "marts/comment_refresh_state",
    *(f"marts/comment_{name}" for name in MARTS),
    *(f"marts/comment_{name}" for name in PERIOD_VIEWS),
)


@dataclass(frozen=True)
class MartsSettings:
    window_days: int = 28  # the position-bias window, ending on the newest day with shown results
    curve: CurveSettings = field(default_factory=CurveSettings)
    batch_rows: int | None = None  # interactions per batch of days; None: what the memory limit holds


@dataclass
class PositionBiasReport:
    window_start: date | None = None
    window_end: date | None = None
    segments: int = 0
    identifiable_segments: int = 0
    slots: int = 0
    seconds: float = 0.0


@dataclass
class MartsReport:
    days: list[date] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    position_bias: PositionBiasReport | None = None  # None when nothing changed and the fit was kept
    batches: int = 0  # the runs of days the daily marts were rebuilt in (pipelines/batches.py)


def ensure_mart_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_staging_tables(con)
    warehouse.ensure_tables(con, MARTS_DDL)


def refresh_marts(
    con: duckdb.DuckDBPyConnection, settings: MartsSettings | None = None, *, full: bool = False
) -> MartsReport:
    settings = settings or MartsSettings()
    ensure_mart_tables(con)
    report = MartsReport()
    with warehouse.transaction(con):
        pending = warehouse.pending_days(con, "marts", full=full)
        days = pending.days
        if days:
            # Batch by batch, each small enough for the memory limit (issue 32): a daily mart's day depends on
            # that day's executions and their events up to the next day only.
            sizes = dict(warehouse.rows(con, "marts/interactions_by_day", days=days))
            batches = day_batches(days, sizes, settings.batch_rows or rows_per_batch(con))
            report.batches = len(batches)
            for batch in batches:
                for name in DAILY_MARTS:
                    warehouse.run(con, f"marts/delete_{name}", days=batch)
                    warehouse.run(con, f"marts/insert_{name}", days=batch)
            report.position_bias = refresh_window_marts(con, settings)
        warehouse.record_refresh(con, "marts", pending, datetime.now(UTC))
        report.days = days
        report.rows = dict(zip(MARTS, warehouse.one(con, "marts/row_counts"), strict=True))
    return report


@dataclass(frozen=True)
class CatchUp:
    staging: StagingReport
    marts: MartsReport


def catch_up(
    con: duckdb.DuckDBPyConnection,
    staging: StagingSettings | None = None,
    marts: MartsSettings | None = None,
) -> CatchUp | None:
    """Bring staging and the marts up to every raw load committed so far, incrementally, as their refreshes
    would; None, writing nothing, when they already are. A build publishes only after this, holding the
    writer lock: a day another process committed after this build's own refreshes is in the marts it records."""
    ensure_mart_tables(con)
    loads_pending = warehouse.rows(con, "staging/pending_days_unabsorbed")
    if not loads_pending and not warehouse.pending_days(con, "marts", full=False).days:
        return None
    return CatchUp(refresh_staging(con, staging), refresh_marts(con, marts))


SEGMENT_TYPES = ("all", "retriever", "device")


def refresh_window_marts(con: duckdb.DuckDBPyConnection, settings: MartsSettings) -> PositionBiasReport:
    """Replace marts.position_bias and marts.document_ctr with the fit over the trailing window (inside the
    caller's transaction)."""
    started = time.perf_counter()
    report = PositionBiasReport()
    warehouse.run(con, "marts/delete_position_bias")
    warehouse.run(con, "marts/delete_document_ctr")
    window = warehouse.one(con, "marts/position_bias_window", window_days=settings.window_days)
    if window is None or window[1] is None:
        return report
    window_start, window_end = window
    report.window_start, report.window_end = window_start, window_end
    fit = fit_position_bias(con, window_start, window_end, settings.curve)
    report.slots = int(fit.attrs["slots"])
    if len(fit):
        report.segments = fit.groupby(["segment_type", "segment"]).ngroups
        report.identifiable_segments = fit[fit["identifiable"]].groupby(["segment_type", "segment"]).ngroups
        con.register("position_bias_fit", fit)
        try:
            warehouse.run(con, "marts/insert_position_bias")
            con.register("document_ctr_rows", document_ctr(con, window_start, window_end))
            warehouse.run(con, "marts/insert_document_ctr")
        finally:
            con.unregister("document_ctr_rows")
            con.unregister("position_bias_fit")
    report.seconds = time.perf_counter() - started
    return report


def document_ctr(
    con: duckdb.DuckDBPyConnection, window_start: date, window_end: date
) -> duckdb.DuckDBPyRelation:
    """marts.document_ctr's rows for a window, with that window's fit registered as `position_bias_fit`."""
    return con.sql(
        warehouse.sql("marts/select_document_ctr"),
        params={"window_start": window_start, "window_end": window_end},
    )


def fit_position_bias(
    con: duckdb.DuckDBPyConnection, window_start: date, window_end: date, curve: CurveSettings
) -> pd.DataFrame:
    """The position-bias rows (marts.position_bias's columns) for any window of search days, both inclusive;
    reads staging, writes nothing (the report uses it for windows other than the mart's).
    `attrs["slots"]` holds the number of shown slots the fit read."""
    window = {"window_start": window_start, "window_end": window_end}
    segments = warehouse.one(con, "marts/position_bias_segments", **window)
    retrievers, devices = segments if segments else ([], [])
    slots = warehouse.run(
        con, "marts/position_bias_slots", retrievers=retrievers, devices=devices, **window
    ).fetchnumpy()
    frames = []
    fitted_at = datetime.now(UTC)
    for segment_type, segment, mask in _segments(slots, retrievers, devices):
        shown = ShownSlots(
            pair_key=np.asarray(slots["pair_key"][mask], dtype=np.uint64),
            position=np.asarray(slots["position"][mask], dtype=np.int64),
            execution_key=np.asarray(slots["execution_key"][mask], dtype=np.uint64),
            clicked=np.asarray(slots["clicked"][mask], dtype=bool),
        )
        frames.append(_rows(estimate_curve(shown, curve), segment_type, segment, curve, fitted_at))
    fit = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(fit):
        fit["window_start"], fit["window_end"] = window_start, window_end
    fit.attrs["slots"] = len(slots["position"])
    return fit


def _segments(
    slots: dict[str, np.ndarray], retrievers: list[str], devices: list[str]
) -> Iterator[tuple[str, str, np.ndarray]]:
    """(segment_type, segment, mask) for all traffic, each retriever and each device with shown slots."""
    count = len(slots["position"])
    if count == 0:
        return
    yield "all", "all", np.ones(count, dtype=bool)
    for segment_type, column, values in (
        ("retriever", "retriever_code", retrievers),
        ("device", "device_code", devices),
    ):
        codes = np.asarray(slots[column])
        for code, value in enumerate(values, start=1):
            yield segment_type, value, codes == code


def _rows(
    estimate: CurveEstimate, segment_type: str, segment: str, curve: CurveSettings, fitted_at: datetime
) -> pd.DataFrame:
    length = len(estimate.impressions)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = estimate.naive_ctr / estimate.naive_ctr[0]
    nullable = "Float64"  # NaN becomes NULL in DuckDB
    return pd.DataFrame(
        {
            "segment_type": segment_type,
            "segment": segment,
            "position": np.arange(length),
            "rank": np.arange(length) + 1,
            "impressions": estimate.impressions.astype(np.int64),
            "clicks": estimate.clicks.astype(np.int64),
            "ctr": pd.array(estimate.naive_ctr, dtype=nullable),
            "ctr_relative": pd.array(np.where(np.isfinite(relative), relative, np.nan), dtype=nullable),
            "examination": pd.array(estimate.examination, dtype=nullable),
            "examination_ci_low": pd.array(estimate.examination_low, dtype=nullable),
            "examination_ci_high": pd.array(estimate.examination_high, dtype=nullable),
            "pivot_examination": pd.array(estimate.pivot, dtype=nullable),
            "position_coverage": pd.array(estimate.position_coverage, dtype=nullable),
            "coverage": estimate.coverage,
            "identifiable": estimate.identifiable,
            "note": [note or None for note in estimate.notes],
            "fitted_pairs": estimate.fitted_pairs,
            "fitted_impressions": int(estimate.fitted_impressions),
            "min_pair_impressions": curve.min_pair_impressions,
            "em_iterations": estimate.iterations,
            "em_converged": estimate.converged,
            "em_max_change": estimate.max_change if np.isfinite(estimate.max_change) else None,
            "bootstrap_replicates": estimate.replicates,
            "fitted_at": fitted_at,
        }
    )
