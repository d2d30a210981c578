"""The position-bias report: one self-contained HTML file for product managers (Dagster-free).

`write_report` reads the marts for a period, draws the charts (Plotly, with plotly.js inlined once: the file
opens offline and requests nothing), and writes reports/position_bias_<end>.html and reports/latest.html.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pandas as pd
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from pipelines.estimators.position_bias import CurveSettings
from pipelines.report import charts
from pipelines.report.data import MIN_QUERY_SEARCHES, Headline, Period, ReportData, collect

TEMPLATE = Path(__file__).with_name("template.html.j2")
EFFECT_RANKS = (2, 3, 5, 10)


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    latest: Path
    summary_markdown: str
    data: ReportData


def _percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}%}"


def _card(figure: Headline) -> dict[str, str]:
    if figure.kind == "count":
        value = "n/a" if figure.value is None else f"{figure.value:,.0f}"
    elif figure.kind == "rate":
        value = _percent(figure.value)
    else:
        value = "n/a" if figure.value is None else f"{figure.value:.2f}"
    change = figure.change
    if change is None:
        return {"name": figure.name, "value": value, "change": "no previous period", "tone": "flat"}
    if figure.kind == "count":
        text = f"{change:+.1%} vs previous"
    elif figure.kind == "rate":
        text = f"{change * 100:+.1f} pts vs previous"
    else:
        text = f"{change:+.2f} vs previous"
    tone = "flat" if abs(change) < 1e-9 else ("good" if (change > 0) == (figure.better == "up") else "bad")
    return {"name": figure.name, "value": value, "change": text, "tone": tone}


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
    """An HTML table of `columns` (name -> (heading, format)); values are escaped."""
    if frame is None or frame.empty:
        return Markup("<p><em>{}</em></p>").format(empty)
    head = Markup("").join(
        Markup('<th class="{}">{}</th>').format("num" if fmt != "text" else "", heading)
        for heading, fmt in columns.values()
    )
    body = Markup("")
    for _, row in frame.iterrows():
        cells = Markup("")
        for name, (_, fmt) in columns.items():
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
            cells += Markup('<td class="{}">{}</td>').format("num" if fmt != "text" else "", text)
        body += Markup("<tr>{}</tr>").format(cells)
    return Markup(
        '<div class="table-wrap"><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'
    ).format(head, body)


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
    lines.append(
        {
            "text": "The model fit converged." if q.em_converged else "The model fit did not converge.",
            "tone": "good" if q.em_converged else "bad",
        }
    )
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


def render(data: ReportData, *, warehouse_name: str, generated_at: datetime) -> str:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(TEMPLATE.read_text())
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
    context: dict[str, Any] = {
        "plotly_js": Markup(get_plotlyjs().replace("</script", "<\\/script")),
        "period": data.period,
        "previous": data.previous,
        "generated_at": f"{generated_at:%Y-%m-%d %H:%M} UTC",
        "warehouse_name": warehouse_name,
        "cards": [_card(figure) for figure in data.headline],
        "quality": data.quality,
        "attention_chart": Markup(charts.to_div(charts.attention(data), "chart-attention")),
        "effect_sentences": effect_sentences(data),
        "click_share_chart": Markup(charts.to_div(charts.click_share(data), "chart-click-share")),
        "trend_chart": Markup(charts.to_div(charts.click_rank_over_time(data), "chart-trend")),
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
        "device_chart": Markup(charts.to_div(charts.segment_curves(data, "device"), "chart-devices")),
        "retriever_chart": Markup(
            charts.to_div(charts.segment_curves(data, "retriever"), "chart-retrievers")
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
        "sample_chart": Markup(charts.to_div(charts.sample_size(data), "chart-sample")),
        "fit_note": _fit_note(data),
    }
    return template.render(**context)


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
    cards = [_card(figure) for figure in data.headline]
    lines = [f"**Position bias report, {data.period}** ({path.name})", ""]
    lines += [f"- {c['name']}: {c['value']} ({c['change']})" for c in cards]
    effect = effect_sentences(data)
    lines += ["", *(effect[:2] if effect else [f"Position effect not identifiable: {data.quality.note}."])]
    return "\n".join(lines)


def write_report(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    out_dir: str | os.PathLike[str],
    *,
    warehouse_name: str = "warehouse.duckdb",
    curve: CurveSettings | None = None,
) -> WrittenReport:
    data = collect(con, period, curve)
    html = render(data, warehouse_name=warehouse_name, generated_at=datetime.now(UTC))
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"position_bias_{period.end.isoformat()}.html"
    latest = folder / "latest.html"
    for target in (path, latest):
        # Write then rename: a reader never sees half a report.
        partial = target.with_suffix(".html.partial")
        partial.write_text(html, encoding="utf-8")
        partial.replace(target)
    return WrittenReport(path, latest, summary_markdown(data, path), data)
