"""The report's charts, drawn with Plotly: interactive (hover shows the figures), and embedded as divs that
the page's single inline copy of plotly.js draws, so the file works offline and makes no request."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from interactions_etl.report.data import ReportData

CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
BLUE, GREY, ORANGE = "#1f5fbf", "#8a8f98", "#d9822b"
PALETTE = ("#1f5fbf", "#d9822b", "#2e9e5b", "#a23fb5", "#c7413a", "#5b6770")


def _layout(fig: go.Figure, *, y_title: str, y_format: str = ".0%", height: int = 340) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 56, "r": 16, "t": 16, "b": 48},
        template="plotly_white",
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        # Above the plot, not below it: a legend below sits on the x-axis title once it wraps to a second row
        # (at phone width); above, Plotly grows the top margin to fit however many rows it takes.
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "xanchor": "left"},
        hovermode="x unified",
    )
    # automargin: tick labels and titles push the margins out rather than overlap each other or get clipped.
    fig.update_yaxes(title_text=y_title, tickformat=y_format, rangemode="tozero", automargin=True)
    fig.update_xaxes(title_text="rank", type="category", automargin=True)
    return fig


def to_div(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config=CONFIG, div_id=div_id)


def _band(fig: go.Figure, x: list, low: pd.Series, high: pd.Series, colour: str, name: str) -> None:
    fig.add_trace(go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False,
                             legendgroup=name))  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=colour,
                             opacity=0.25, hoverinfo="skip", name=f"{name}: 95% interval", legendgroup=name))  # fmt: skip


def attention(data: ReportData) -> go.Figure:
    """Observed CTR by rank (relative to rank 1) with the estimated examination curve and its band."""
    rows = data.ctr_by_rank
    x = rows["rank_group"].tolist()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=rows["ctr_relative"], mode="lines+markers", name="observed CTR vs rank 1",
                             line={"color": GREY, "dash": "dot"}, customdata=rows[["ctr", "impressions"]],
                             hovertemplate="observed %{y:.0%} of rank 1 (CTR %{customdata[0]:.1%}, "
                                           "%{customdata[1]:,} impressions)<extra></extra>"))  # fmt: skip
    if data.quality.identifiable and "examination" in rows:
        _band(fig, x, rows["examination_ci_low"], rows["examination_ci_high"], "rgba(31,95,191,0.25)",
              "attention")  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=rows["examination"], mode="lines+markers", name="attention (position effect)",
                                 line={"color": BLUE, "width": 3},
                                 hovertemplate="attention %{y:.0%} of rank 1<extra></extra>"))  # fmt: skip
    else:
        # Two short lines at the top right, where the falling curve is low: one long line ran off a phone screen.
        fig.add_annotation(text="Position effect not measurable<br>from this data (see Data quality)",
                           showarrow=False, xref="paper", yref="paper", x=1, y=1, xanchor="right",
                           yanchor="top", align="right", font={"color": "#555"}, bgcolor="#eee")  # fmt: skip
    return _layout(fig, y_title="share of rank 1")


def click_share(data: ReportData) -> go.Figure:
    rows = data.click_share
    fig = go.Figure(go.Bar(x=rows["rank_group"], y=rows["share"], marker_color=BLUE, customdata=rows["clicks"],
                           hovertemplate="%{y:.1%} of clicks (%{customdata:,})<extra></extra>"))  # fmt: skip
    return _layout(fig, y_title="share of clicks")


def trend_axis_top(values: pd.Series) -> float:
    """The top of the average-click-rank axis: at least rank 5, and room above the highest day."""
    highest = float(values.max()) if len(values.dropna()) else 1.0
    return float(max(5.0, math.ceil(highest * 1.25)))


def click_rank_over_time(data: ReportData) -> go.Figure:
    rows = data.trend
    fig = go.Figure(go.Scatter(x=rows["day"], y=rows["average_click_rank"], mode="lines+markers",
                               line={"color": ORANGE}, name="average click rank",
                               hovertemplate="%{x|%b %d}: %{y:.2f}<extra></extra>"))  # fmt: skip
    _layout(fig, y_title="average click rank", y_format=".1f")
    # The whole window on the x axis, so days without data show as missing rather than the line filling it.
    half_day = pd.Timedelta(hours=12)
    start, end = pd.Timestamp(data.period.start) - half_day, pd.Timestamp(data.period.end) + half_day
    fig.update_xaxes(title_text="day", type="date", tickformat="%b %d", range=[start, end])
    # From rank 1, the best an average can be: an axis fitted to the data (3.27 to 3.45) turns day-to-day noise
    # of a few hundredths into swings from the bottom of the chart to the top.
    fig.update_yaxes(
        rangemode="normal", range=[1, trend_axis_top(rows.get("average_click_rank", pd.Series()))]
    )
    return fig


def segment_curves(data: ReportData, segment_type: str) -> go.Figure:
    fig = go.Figure()
    if data.curves.empty:
        return _layout(fig, y_title="attention vs rank 1", height=320)
    segments = sorted(data.curves.loc[data.curves["segment_type"] == segment_type, "segment"].unique())
    for colour, segment in zip(PALETTE * 4, segments, strict=False):
        rows = data.curve(segment_type, segment)
        rows = rows[rows["rank"] <= 10]
        known = rows[rows["identifiable"]]
        if known.empty:
            # Not identifiable: draw the naive curve greyed, never a confident model line.
            fig.add_trace(go.Scatter(x=rows["rank"].astype(str), y=rows["ctr_relative"], mode="lines",
                                     line={"color": "#bbbbbb", "dash": "dot"},
                                     name=f"{segment} (raw CTR only)"))  # fmt: skip
            continue
        fig.add_trace(go.Scatter(x=known["rank"].astype(str), y=known["examination"], mode="lines+markers",
                                 line={"color": colour}, name=segment,
                                 error_y={"type": "data", "symmetric": False, "color": colour, "thickness": 1,
                                          "array": known["examination_ci_high"] - known["examination"],
                                          "arrayminus": known["examination"] - known["examination_ci_low"]},
                                 hovertemplate=f"{segment}: %{{y:.0%}}<extra></extra>"))  # fmt: skip
    return _layout(fig, y_title="attention vs rank 1", height=320)


def sample_size(data: ReportData) -> go.Figure:
    rows = data.curve()
    if rows.empty:
        return _layout(go.Figure(), y_title="impressions", y_format=",d", height=260)
    rows = rows[rows["rank"] <= 20]
    fig = go.Figure(go.Bar(x=rows["rank"].astype(str), y=rows["impressions"], marker_color=GREY,
                           hovertemplate="%{y:,} impressions<extra></extra>"))  # fmt: skip
    return _layout(fig, y_title="impressions", y_format=",d", height=260)
