"""The position-bias report: one self-contained HTML file for product managers (Dagster-free).

`write_report` reads the marts for a period, draws the charts (Plotly, with plotly.js inlined once: the file
opens offline and requests nothing), writes reports/position_bias_<end>.html and reports/latest.html, and prunes
the dated reports beyond the newest `keep`.

plotly.js: the plotly package ships only the full bundle (4.8 MB, every trace type). Our charts are scatter
and bar traces, which plotly.js's "basic" partial bundle (scatter, bar, pie: 1.2 MB) draws, so vendor/ holds
that bundle at the plotly package's own plotly.js version; a report is a quarter the size to e-mail. To update
it after upgrading plotly: `npm pack plotly.js-basic-dist-min@<the version in get_plotlyjs()'s header>` and
copy plotly-basic.min.js into vendor/. Until then (or if a chart needs another trace type) the full bundle is
inlined: the report is heavier, never broken.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from interactions_etl.estimators.position_bias import CurveSettings
from interactions_etl.report import charts
from interactions_etl.report.data import (
    MAX_ROWS_PER_QUERY,
    MIN_QUERY_SEARCHES,
    Headline,
    Period,
    ReportData,
    collect,
)

TEMPLATE = resources.files(__package__).joinpath("template.html.j2")
EFFECT_RANKS = (2, 3, 5, 10)
BASIC_BUNDLE = resources.files(__package__).joinpath("vendor", "plotly-basic.min.js")
BASIC_TRACES = frozenset({"scatter", "bar", "pie"})
DEFAULT_KEEP = 30
# Only files named like this are ours to prune: latest.html, partial writes and anything else stay.
DATED_REPORT = re.compile(r"position_bias_(\d{4}-\d{2}-\d{2})\.html")


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    latest: Path
    summary_markdown: str
    data: ReportData
    bundle: str  # which plotly.js went in: "basic", "full", or "none" (no charts)
    pruned: list[Path] = field(default_factory=list)


def _percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}%}"


def _signed(value: float, digits: int, suffix: str) -> str:
    """A change with its sign; one that rounds to zero at the shown precision has none ("0.0 pts", not "-0.0")."""
    rounded = round(value, digits)
    if rounded == 0:
        return f"{0:.{digits}f}{suffix}"
    return f"{rounded:+.{digits}f}{suffix}"


def _card(figure: Headline, not_compared: str | None = None) -> dict[str, str]:
    """One headline card; `not_compared` replaces the change when the periods cannot be compared."""
    if figure.kind == "count":
        value = "n/a" if figure.value is None else f"{figure.value:,.0f}"
    elif figure.kind == "rate":
        value = _percent(figure.value)
    else:
        value = "n/a" if figure.value is None else f"{figure.value:.2f}"
    if not_compared:
        return {"name": figure.name, "value": value, "change": not_compared, "tone": "flat"}
    change = figure.change
    if change is None:
        return {"name": figure.name, "value": value, "change": "no previous period", "tone": "flat"}
    if figure.kind == "count":
        shown, digits, suffix = change * 100, 1, "%"
    elif figure.kind == "rate":
        shown, digits, suffix = change * 100, 1, " pts"
    else:
        shown, digits, suffix = change, 2, ""
    text = _signed(shown, digits, suffix) + " vs previous"
    # The colour follows the shown figure: a change that reads 0.0 is not good or bad news.
    rounded = round(shown, digits)
    tone = "flat" if rounded == 0 else ("good" if (rounded > 0) == (figure.better == "up") else "bad")
    return {"name": figure.name, "value": value, "change": text, "tone": tone}


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _span(first: date | None, last: date | None) -> str:
    if first is None or last is None:
        return ""
    return first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"


def period_label(data: ReportData) -> str:
    """The period with what it holds: "2026-11-30 to 2026-12-06 (data on 1 of its 7 days)"."""
    c = data.coverage
    if c.empty:
        return f"{data.period} (no data)"
    if c.complete:
        return f"{data.period} ({_days(c.period.days)})"
    return f"{data.period} (data on {c.days_with_data} of its {_days(c.period.days)})"


def not_compared_card(data: ReportData) -> str | None:
    """What a card says instead of a change, when the periods cannot be compared; None when they can."""
    if data.comparable:
        return None
    if not data.coverage.complete:
        return "not compared: partial period"
    if data.previous_coverage.empty:
        return "no previous data"
    return "not compared: partial previous period"


def comparison_sentence(data: ReportData) -> str:
    previous, before = data.previous, data.previous_coverage
    if data.comparable:
        return f"Changes are against the {_days(previous.days)} before ({previous})."
    if not data.coverage.complete:
        return (
            "No change against the previous period is shown: with data on only "
            f"{data.coverage.days_with_data} of its {_days(data.period.days)}, this window's totals would read "
            "as a fall that did not happen."
        )
    if before.empty:
        return f"No change is shown: there is no data for the previous period ({previous})."
    return (
        f"No change is shown: the previous period ({previous}) has data on only {before.days_with_data} of its "
        f"{_days(previous.days)}."
    )


def coverage_warning(data: ReportData) -> str | None:
    """The thin-data warning at the top of the page: which days have data, and where the data ends."""
    c = data.coverage
    if c.complete or c.empty:
        return None
    verb = "has" if c.days_with_data == 1 else "have"
    parts = [
        f"Only {c.days_with_data} of this window's {_days(c.period.days)} {verb} data "
        f"({_span(c.first_day, c.last_day)}); every figure covers {'that day' if verb == 'has' else 'those days'} "
        "alone."
    ]
    if data.data_first_day is not None and data.period.start < data.data_first_day:
        parts.append(f"The warehouse's data starts on {data.data_first_day.isoformat()}.")
    if data.data_last_day is not None and data.period.end > data.data_last_day:
        parts.append(f"The warehouse's data ends on {data.data_last_day.isoformat()}.")
    # Days without data between the first and the last with data: a gap in the data, not the window's edges.
    missing_inside = (
        (c.last_day - c.first_day).days + 1 - c.days_with_data if c.first_day and c.last_day else 0
    )
    if missing_inside > 0:
        parts.append(f"{_days(missing_inside).capitalize()} between them have none.")
    return " ".join(parts)


def no_data_sentence(data: ReportData) -> str:
    if data.data_first_day is None or data.data_last_day is None:
        return "The warehouse holds no searches yet."
    return f"The warehouse holds searches from {_span(data.data_first_day, data.data_last_day)}."


def effect_sentences(data: ReportData) -> list[str]:
    lines = []
    naive = data.curve()
    for rank in EFFECT_RANKS:
        attention = data.attention_at(rank)
        if attention is None:
            continue
        value, low, high = attention
        line = (
            f"A result at rank {rank} gets about {value:.0%} of the attention of rank 1 "
            f"(95% interval {low:.0%} to {high:.0%})."
        )
        raw = naive.loc[naive["rank"] == rank, "ctr_relative"]
        if len(raw) and not pd.isna(raw.iloc[0]):
            line += f" Raw clicks alone would say {float(raw.iloc[0]):.0%}."
        lines.append(line)
    if lines:
        lines.append(
            "Raw click rates fall faster than attention because better results are ranked higher: the difference "
            "is the ranking's quality, not the position."
        )
    return lines


def _table(frame: pd.DataFrame, columns: dict[str, tuple[str, str]], empty: str) -> Markup:
    """An HTML table of `columns` (name -> (heading, format)); values are escaped. Each cell carries its heading
    (data-label) so that at phone width a row stacks into "heading: value" lines instead of scrolling."""
    if frame is None or frame.empty:
        return Markup("<p><em>{}</em></p>").format(empty)
    head = Markup("").join(
        Markup('<th class="{}">{}</th>').format("num" if fmt != "text" else "", heading)
        for heading, fmt in columns.values()
    )
    body = Markup("")
    for _, row in frame.iterrows():
        cells = Markup("")
        for name, (heading, fmt) in columns.items():
            value = row.get(name)
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                text = ""
            elif fmt == "pct":
                text = f"{value:.1%}"
            elif fmt == "int":
                text = f"{value:,.0f}"
            elif fmt == "num":
                text = f"{value:.2f}"
            else:
                text = str(value)
            cells += Markup('<td class="{}" data-label="{}">{}</td>').format(
                "num" if fmt != "text" else "", heading, text
            )
        body += Markup("<tr>{}</tr>").format(cells)
    return Markup(
        '<div class="table-wrap"><p class="scroll-cue" aria-hidden="true">Scroll sideways for more columns '
        '&rarr;</p><table class="stack"><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'
    ).format(head, body)


def segments_without_curve(data: ReportData) -> list[str]:
    """One sentence per retriever or device whose curve is not shown at all, saying why (its note): the exact
    click counts of that segment still stand, only the model's estimate is withheld."""
    if data.curves.empty:
        return []
    rows = data.curves[data.curves["segment_type"] != "all"]
    sentences = []
    for (segment_type, segment), part in rows.groupby(["segment_type", "segment"], sort=True):
        if part["identifiable"].any():
            continue
        notes = part["note"].dropna()
        why = str(notes.iloc[0]) if len(notes) else "not identifiable"
        sentences.append(
            f"The position effect of {segment_type} {segment} is not shown: {why}; its click counts are exact "
            "and shown as they are."
        )
    return sentences


def _convergence_line(data: ReportData) -> dict[str, str]:
    """Whether the EM converged, for all traffic and for every segment, naming those that did not."""
    q = data.quality
    failed = []
    if len(data.curves):
        segments = data.curves.groupby(["segment_type", "segment"], sort=True)
        failed = [
            f"{segment_type} {segment}" if segment_type != "all" else "all traffic"
            for (segment_type, segment), part in segments
            if (part["fitted_pairs"] > 0).any() and not part["em_converged"].all()
        ]
    if not failed:
        text = "The model fit converged." if q.em_converged else "The model fit did not converge."
        return {"text": text, "tone": "good" if q.em_converged else "bad"}
    return {
        "text": f"The model fit did not converge for {', '.join(failed)}: those curves are not shown; "
        "every other figure is unaffected.",
        "tone": "bad",
    }


def _quality_lines(data: ReportData) -> list[dict[str, str]]:
    q = data.quality
    lines = [
        {
            "text": f"Tracked searches (the app sent impressions): {_percent(q.tracked_share)} of all searches. "
            "Untracked searches count in search totals but not in click rates by rank.",
            "tone": "flat",
        },
        {
            "text": f"Position variation: {_percent(q.coverage)} of impressions show a result that also appeared "
            "at another rank, which is what lets the position effect be told apart from relevance.",
            "tone": "good" if q.identifiable else "bad",
        },
    ]
    if not q.identifiable:
        lines.append({"text": f"The position effect is not identifiable: {q.note}.", "tone": "bad"})
    lines.append(_convergence_line(data))
    if q.em_pivot_max_difference is not None:
        verdict = "agree" if q.em_pivot_agree else "disagree"
        lines.append(
            {
                "text": f"Two independent estimators {verdict}: the model and the pivot cross-check differ by at most "
                f"{q.em_pivot_max_difference * 100:.1f} points over ranks 1-10.",
                "tone": "good" if q.em_pivot_agree else "bad",
            }
        )
    return lines


def _version(js: str) -> str | None:
    found = re.search(r"plotly\.js(?: \([^)]*\))? v(\d+\.\d+\.\d+)", js[:400])
    return found.group(1) if found else None


def plotly_bundle(figures: list[go.Figure]) -> tuple[str, str]:
    """(name, source) of the plotly.js to inline: the vendored basic bundle when it is the plotly package's
    own plotly.js version and draws every trace in `figures`, else the full bundle the package ships."""
    full = get_plotlyjs()
    types = {trace.type for figure in figures for trace in figure.data}
    if BASIC_BUNDLE.is_file() and types <= BASIC_TRACES:
        basic = BASIC_BUNDLE.read_text(encoding="utf-8")
        if _version(basic) is not None and _version(basic) == _version(full):
            return "basic", basic
    return "full", full


def _base_context(data: ReportData, warehouse_name: str, generated_at: datetime) -> dict[str, Any]:
    return {
        "no_data": data.empty,
        "period": data.period,
        "period_label": period_label(data),
        "previous": data.previous,
        "generated_at": f"{generated_at:%Y-%m-%d %H:%M} UTC",
        "warehouse_name": warehouse_name,
        "no_data_sentence": no_data_sentence(data),
        "coverage_warning": coverage_warning(data),
        "comparison_sentence": comparison_sentence(data) if not data.empty else "",
        "bundle": "none",
        "plotly_js": Markup(""),
    }


def render_with_bundle(data: ReportData, *, warehouse_name: str, generated_at: datetime) -> tuple[str, str]:
    """(html, bundle name) of the report on `data`."""
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    context = _base_context(data, warehouse_name, generated_at)
    if data.empty:
        # No data, no charts: a short page, without plotly.js.
        return template.render(**context), "none"
    segments = data.curves[data.curves["segment_type"] != "all"] if len(data.curves) else data.curves
    segment_summary = (
        segments.groupby(["segment_type", "segment"], as_index=False)
        .agg(
            impressions=("impressions", "sum"),
            clicks=("clicks", "sum"),
            coverage=("coverage", "first"),
            identifiable=("identifiable", "any"),
        )
        .assign(identifiable=lambda f: f["identifiable"].map({True: "yes", False: "no"}))
        if len(segments)
        else segments
    )
    figures = {
        "attention_chart": (charts.attention(data), "chart-attention"),
        "click_share_chart": (charts.click_share(data), "chart-click-share"),
        "trend_chart": (charts.click_rank_over_time(data), "chart-trend"),
        "device_chart": (charts.segment_curves(data, "device"), "chart-devices"),
        "retriever_chart": (charts.segment_curves(data, "retriever"), "chart-retrievers"),
        "sample_chart": (charts.sample_size(data), "chart-sample"),
    }
    bundle, source = plotly_bundle([figure for figure, _ in figures.values()])
    not_compared = not_compared_card(data)
    context |= {
        "bundle": bundle,
        "plotly_js": Markup(source.replace("</script", "<\\/script")),
        "cards": [_card(figure, not_compared) for figure in data.headline],
        "quality": data.quality,
        "effect_sentences": effect_sentences(data),
        "max_rows_per_query": MAX_ROWS_PER_QUERY,
        "lost_table": _table(
            data.lost_opportunities,
            {
                "query_text": ("query", "text"),
                "feature_id": ("document", "text"),
                "mean_rank": ("mean rank", "num"),
                "ctr": ("raw CTR", "pct"),
                "debiased_ctr": ("debiased CTR", "pct"),
                "conversion_rate": ("conversion / impression", "pct"),
                "impressions": ("impressions", "int"),
                "expected_gain": ("expected gain (clicks)", "int"),
            },
            "No under-promoted result with enough traffic in this period.",
        ),
        "over_table": _table(
            data.over_promoted,
            {
                "query_text": ("query", "text"),
                "feature_id": ("document", "text"),
                "mean_rank": ("mean rank", "num"),
                "debiased_ctr": ("debiased CTR", "pct"),
                "query_best_debiased_ctr": ("query's best", "pct"),
                "skip_above_rate": ("skipped for a lower result", "pct"),
                "bounce_rate": ("bounce", "pct"),
                "expected_gain": ("expected gain (clicks)", "int"),
            },
            "No over-promoted result with enough traffic in this period.",
        ),
        "min_query_searches": MIN_QUERY_SEARCHES,
        "queries_table": _table(
            data.queries,
            {
                "query": ("query", "text"),
                "searches": ("searches", "int"),
                "no_click_rate": ("no click", "pct"),
                "zero_results_rate": ("zero results", "pct"),
                "refinement_rate": ("refined", "pct"),
            },
            "No query with enough searches in this period.",
        ),
        "segment_table": _table(
            segment_summary,
            {
                "segment_type": ("segment type", "text"),
                "segment": ("segment", "text"),
                "impressions": ("impressions", "int"),
                "clicks": ("clicks", "int"),
                "coverage": ("position variation", "pct"),
                "identifiable": ("curve measurable", "text"),
            },
            "No segment has shown results in this period.",
        ),
        "quality_lines": _quality_lines(data),
        "segments_without_curve": segments_without_curve(data),
        "fit_note": _fit_note(data),
    }
    context |= {name: Markup(charts.to_div(figure, div_id)) for name, (figure, div_id) in figures.items()}
    return template.render(**context), bundle


def render(data: ReportData, *, warehouse_name: str, generated_at: datetime) -> str:
    return render_with_bundle(data, warehouse_name=warehouse_name, generated_at=generated_at)[0]


def _fit_note(data: ReportData) -> str:
    rows = data.curve()
    if rows.empty:
        return "no shown results in the period."
    first = rows.iloc[0]
    return (
        f"EM on {int(first['fitted_pairs']):,} (query, document) pairs with at least "
        f"{int(first['min_pair_impressions'])} impressions, {int(first['bootstrap_replicates'])} bootstrap replicates."
    )


def summary_markdown(data: ReportData, path: Path) -> str:
    lines = [f"**Position bias report, {period_label(data)}** ({path.name})", ""]
    if data.empty:
        return "\n".join([*lines, f"No searches in this window. {no_data_sentence(data)}"])
    warning = coverage_warning(data)
    if warning:
        lines += [warning, ""]
    if data.comparable:
        lines += [f"- {c['name']}: {c['value']} ({c['change']})" for c in map(_card, data.headline)]
    else:
        lines += [f"- {c['name']}: {c['value']}" for c in map(_card, data.headline)]
        lines += ["", comparison_sentence(data)]
    effect = effect_sentences(data)
    lines += ["", *(effect[:2] if effect else [f"Position effect not identifiable: {data.quality.note}."])]
    not_shown = segments_without_curve(data)
    lines += ["", *not_shown] if not_shown else []
    return "\n".join(lines)


def prune_reports(folder: Path, keep: int, *, written: Path | None = None) -> list[Path]:
    """Delete the dated reports (position_bias_<YYYY-MM-DD>.html) of `folder` beyond the `keep` newest by the
    date in their name, and return them; `written`, the report just written, is never deleted, even when it
    is for an older window. Nothing else in the folder is touched (latest.html, other files, folders)."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    dated: list[tuple[date, Path]] = []
    for path in folder.iterdir():
        match = DATED_REPORT.fullmatch(path.name)
        if not match or not path.is_file():
            continue
        try:
            dated.append((date.fromisoformat(match.group(1)), path))
        except ValueError:
            continue  # position_bias_2026-13-45.html: not a name we write
    newest_first = [path for _, path in sorted(dated, reverse=True)]
    kept = set(newest_first[:keep]) | ({written} if written is not None else set())
    pruned = [path for path in newest_first if path not in kept]
    for path in pruned:
        # Another run may have pruned it first.
        path.unlink(missing_ok=True)
    return pruned


def write_report(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    out_dir: str | os.PathLike[str],
    *,
    warehouse_name: str = "warehouse.duckdb",
    curve: CurveSettings | None = None,
    keep: int | None = DEFAULT_KEEP,
    update_latest: bool = True,
) -> WrittenReport:
    """Write the report on `period` and latest.html (unless `update_latest` is False), then keep the `keep`
    newest dated reports (None: all)."""
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    data = collect(con, period, curve)
    html, bundle = render_with_bundle(data, warehouse_name=warehouse_name, generated_at=datetime.now(UTC))
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"position_bias_{period.end.isoformat()}.html"
    latest = folder / "latest.html"
    for target in (path, latest) if update_latest else (path,):
        # Write then rename: a reader never sees half a report.
        partial = target.with_suffix(".html.partial")
        partial.write_text(html, encoding="utf-8")
        partial.replace(target)
    pruned = prune_reports(folder, keep, written=path) if keep is not None else []
    return WrittenReport(path, latest, summary_markdown(data, path), data, bundle, pruned)


PERIOD_META = re.compile(
    r'<meta name="interactions-report-period" content="(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})">'
)
# Reports written before the period was recorded in a meta tag: the title says it.
PERIOD_TITLE = re.compile(r"<title>Position bias report, (\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})")


def report_period(path: Path) -> Period | None:
    """The window a written report covers, read from its head; None for a file that does not say."""
    head = path.read_bytes()[:8192].decode("utf-8", "replace")
    match = PERIOD_META.search(head) or PERIOD_TITLE.search(head)
    return Period(date.fromisoformat(match[1]), date.fromisoformat(match[2])) if match else None


def rewrite_reports(
    con: duckdb.DuckDBPyConnection,
    folder: str | os.PathLike[str],
    days: set[date] | None,
    *,
    warehouse_name: str = "warehouse.duckdb",
) -> list[Path]:
    """Write again, from the warehouse as it is now, every report in `folder` whose window or the previous
    period it is compared with holds one of `days` (None: every report), latest.html included when it is one
    of them; for an erasure. Returns the files rewritten."""
    folder = Path(folder)
    if not folder.exists():
        return []
    rewritten: list[Path] = []

    def affected(period: Period) -> bool:
        first = period.previous().start
        return days is None or any(first <= day <= period.end for day in days)

    latest = folder / "latest.html"
    latest_period = report_period(latest) if latest.exists() else None
    for path in sorted(folder.iterdir()):
        if not DATED_REPORT.fullmatch(path.name) or not path.is_file():
            continue
        period = report_period(path)
        if period is None or not affected(period):
            continue
        is_latest = latest_period == period and path.name == f"position_bias_{period.end.isoformat()}.html"
        write_report(con, period, folder, warehouse_name=warehouse_name, keep=None, update_latest=is_latest)
        rewritten += [path, latest] if is_latest else [path]
    if latest_period is not None and latest not in rewritten and affected(latest_period):
        write_report(con, latest_period, folder, warehouse_name=warehouse_name, keep=None)
        rewritten += [folder / f"position_bias_{latest_period.end.isoformat()}.html", latest]
    return sorted(set(rewritten))
