"""The report as a product manager opens it: headless Chromium (Debian's package; `python3 dev.py test`
installs it where missing) on the file itself, at laptop and phone width, with every request watched."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from plotly.offline import get_plotlyjs

from interactions_etl import warehouse
from interactions_etl.report import WrittenReport, write_report
from interactions_etl.report.data import Period
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.conftest import build_warehouse

pytestmark = pytest.mark.slow  # a browser and a report per module: ~30 s of set-up

SECTIONS = ("headline", "attention", "position-effect", "click-share", "opportunities", "queries", "segments",
            "data-quality")  # fmt: skip
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is missing: `python3 dev.py test` installs Debian's chromium package (as root)")
    return found


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with 2026-10-01 to 2026-10-08 of generated traffic (and 3 searches past midnight, 10-09)."""
    path = tmp_path_factory.mktemp("traffic") / "w.duckdb"
    build_warehouse(
        path,
        generate_traffic(TrafficConfig(seed=3, start=date(2026, 10, 1), days=8, per_day=40_000)).records(),
        "report-test",
    )
    return path


def write(warehouse_path: Path, period: Period, folder: Path) -> WrittenReport:
    con = warehouse.connect(warehouse_path, read_only=True)
    try:
        return write_report(con, period, folder)
    finally:
        con.close()


@pytest.fixture(scope="module")
def report(traffic: Path) -> Path:
    folder = traffic.parent / "reports"
    written = write(traffic, Period(date(2026, 10, 5), date(2026, 10, 8)), folder)
    assert written.path == folder / "position_bias_2026-10-08.html"
    assert written.latest.read_bytes() == written.path.read_bytes()
    return written.path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def open_page(browser, path: Path, width: int) -> tuple[object, list[str], list[str]]:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request", lambda request: None if request.url.startswith("file://") else outside.append(request.url)
    )
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('.main-svg').length >= 6")
    return page, errors, outside


@pytest.mark.parametrize("width", [1280, 390])
def test_the_report_loads_offline_with_every_section(browser, report: Path, width: int) -> None:
    page, errors, outside = open_page(browser, report, width)
    try:
        assert errors == []
        assert outside == []  # nothing leaves the machine
        for section in SECTIONS:
            assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator("section#attention .js-plotly-plot").count() == 1
        assert page.locator("section#segments .js-plotly-plot").count() == 2
        text = page.inner_text("body")
        assert "gets about" in text and "of the attention of rank 1" in text
        # Phone width: nothing wider than the screen (tables stack their rows at phone width).
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        screenshot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L")
        assert screenshot.height > 2000
        histogram = screenshot.histogram()
        assert max(histogram) < 0.95 * sum(histogram)  # not blank
        assert sum(1 for count in histogram if count) > 50
    finally:
        page.close()


def test_a_curve_that_cannot_be_identified_is_greyed_out_and_said_in_words(browser, tmp_path: Path) -> None:
    config = TrafficConfig.deterministic(seed=4, start=date(2026, 10, 1), days=2, per_day=20_000)
    build_warehouse(tmp_path / "w.duckdb", generate_traffic(config).records(), "report-test")
    con = warehouse.connect(tmp_path / "w.duckdb", read_only=True)
    try:
        written = write_report(con, Period(date(2026, 10, 1), date(2026, 10, 2)), tmp_path / "reports")
    finally:
        con.close()
    assert not written.data.quality.identifiable
    page, errors, outside = open_page(browser, written.path, 1280)
    try:
        assert errors == [] and outside == []
        assert page.locator("section#attention.not-identifiable").count() == 1
        assert "cannot be measured" in page.inner_text("section#attention")
        assert "cannot be told apart" in page.inner_text("section#data-quality")
        names = page.evaluate("document.getElementById('chart-attention').data.map(trace => trace.name)")
        assert names == ["observed CTR vs rank 1"]  # no model line drawn
        assert "gets about" not in page.inner_text("section#position-effect")
    finally:
        page.close()


# Every element that reaches past the screen's right edge (or starts left of it), unless it sits in a table box
# that scrolls and shows its cue. Elements wholly left of the screen are Plotly's text-measuring helpers (at
# x = -10000), never seen.
RUNS_OFF_SCREEN = """() => {
  const width = document.documentElement.clientWidth, out = [];
  const cued = box => box && box.scrollWidth > box.clientWidth && box.querySelector('.scroll-cue')
    && box.querySelector('.scroll-cue').getBoundingClientRect().height > 0;
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= 0) continue;
    if (r.left >= -0.5 && r.right <= width + 0.5) continue;
    if (cued(el.closest('.table-wrap'))) continue;
    out.push(`${el.tagName}.${el.getAttribute('class') || ''} "${(el.textContent || '').slice(0, 40)}"`
      + ` ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return out;
}"""
# Text of one chart drawn over other text of the same chart: legend entries, axis titles, tick labels, notes.
OVERLAPPING_TEXT = """() => {
  const out = [];
  const boxes = (root, selector) => Array.from(root.querySelectorAll(selector))
    .map(e => ({e, r: e.getBoundingClientRect()})).filter(({r}) => r.width > 0 && r.height > 0);
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const counts = {};
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const g = {legend: boxes(plot, '.legend text.legendtext'), title: boxes(plot, 'text.xtitle, text.ytitle'),
               tick: boxes(plot, '.xtick text, .ytick text'), note: boxes(plot, 'text.annotation-text')};
    counts[plot.id] = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, v.length]));
    const pairs = [['legend', 'legend'], ['legend', 'title'], ['legend', 'tick'], ['legend', 'note'],
                   ['title', 'title'], ['title', 'tick'], ['note', 'title'], ['note', 'tick']];
    for (const [x, y] of pairs) for (const a of g[x]) for (const b of g[y]) {
      if (a.e !== b.e && hit(a.r, b.r)) out.push(`${plot.id}: ${x} "${a.e.textContent}" on ${y} "${b.e.textContent}"`);
    }
  }
  return {overlaps: out, counts};
}"""


@pytest.mark.parametrize("width", [390, 700, 1280])
def test_nothing_runs_off_the_screen_without_a_scroll_cue(browser, report: Path, width: int) -> None:
    page, errors, _ = open_page(browser, report, width)
    try:
        assert errors == []
        assert page.evaluate(RUNS_OFF_SCREEN) == []
        # Every column of every table can be read: at phone width the rows stack into "heading: value" lines
        # (no box scrolls); wider, a box that scrolls says so.
        boxes = page.evaluate(
            "Array.from(document.querySelectorAll('.table-wrap')).map(b => "
            "[b.scrollWidth > b.clientWidth, b.querySelector('.scroll-cue').getBoundingClientRect().height > 0])"
        )
        assert len(boxes) == 4 and all(scrolls == cue for scrolls, cue in boxes), boxes
        if width == 390:
            assert not any(scrolls for scrolls, _ in boxes)
            # Each value sits beside its heading, drawn from data-label (CSS ::before, which inner_text omits).
            labels = page.evaluate(
                "Array.from(document.querySelector('section#opportunities tbody tr').children)"
                ".map(td => getComputedStyle(td, '::before').content)"
            )
            assert '"debiased CTR"' in labels and '"expected gain (clicks)"' in labels, labels
    finally:
        page.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_no_chart_text_overlaps_other_text(browser, report: Path, width: int) -> None:
    page, errors, _ = open_page(browser, report, width)
    try:
        assert errors == []
        found = page.evaluate(OVERLAPPING_TEXT)
        assert found["overlaps"] == []
        # The check saw the texts it compares: the curve chart's three legend entries and both axis titles.
        assert found["counts"]["chart-attention"]["legend"] == 3
        assert all(count["title"] == 2 and count["tick"] > 5 for count in found["counts"].values())
    finally:
        page.close()


def test_the_click_rank_trend_starts_at_rank_1_so_noise_stays_small(browser, report: Path) -> None:
    page, _, _ = open_page(browser, report, 1280)
    try:
        low, high = page.evaluate("document.getElementById('chart-trend')._fullLayout.yaxis.range")
        values = page.evaluate("Array.from(document.getElementById('chart-trend')._fullData[0].y)")
        assert low == 1 and high >= 5
        # The days differ by a few hundredths of a rank: a sliver of the axis, not its whole height.
        assert len(values) == 4 and (max(values) - min(values)) / (high - low) < 0.05
        x_range = page.evaluate("document.getElementById('chart-trend')._fullLayout.xaxis.range")
        assert x_range[0] < "2026-10-05" and x_range[1] > "2026-10-08"  # the whole window
    finally:
        page.close()


def test_the_report_inlines_plotlys_basic_bundle_and_it_draws_every_chart(browser, report: Path) -> None:
    size = report.stat().st_size
    assert size < 1_600_000, size  # the full bundle alone is 4.8 MB
    page, errors, outside = open_page(browser, report, 1280)
    try:
        assert errors == [] and outside == []
        assert page.get_attribute('meta[name="generator"]', "content").endswith("plotly.js bundle: basic")
        assert page.evaluate("Plotly.version") == re.search(r"v(\d+\.\d+\.\d+)", get_plotlyjs()[:200]).group(
            1
        )
        # Every trace drawn, the segment curves' error bars included.
        for chart in ("chart-attention", "chart-click-share", "chart-trend", "chart-devices", "chart-retrievers",
                      "chart-sample"):  # fmt: skip
            assert page.evaluate(f"document.getElementById('{chart}').querySelectorAll('.trace').length") > 0
        assert page.locator("#chart-devices .errorbar path").count() > 0
    finally:
        page.close()


def test_a_window_running_past_the_data_says_so_and_compares_nothing(
    browser, traffic: Path, tmp_path: Path
) -> None:
    # Seven days from 2026-10-06; the data ends on 2026-10-09 (the last sessions of 10-08 run past midnight).
    # The week before (2026-09-29 to 10-05) holds data on 5 of its days.
    written = write(traffic, Period(date(2026, 10, 6), date(2026, 10, 12)), tmp_path)
    assert (written.data.coverage.days_with_data, written.data.previous_coverage.days_with_data) == (4, 5)
    page, errors, outside = open_page(browser, written.path, 390)
    try:
        assert errors == [] and outside == []
        assert page.title() == "Position bias report, 2026-10-06 to 2026-10-12 (data on 4 of its 7 days)"
        header = page.inner_text("header")
        assert "2026-10-06 to 2026-10-12 (data on 4 of its 7 days)" in header and "(7 days)" not in header
        assert page.inner_text("#thin-data") == (
            "Only 4 of this window's 7 days have data (2026-10-06 to 2026-10-09); every figure covers those days "
            "alone. The warehouse's data ends on 2026-10-09."
        )
        cards = page.inner_text("section#headline")
        assert "vs previous" not in cards and cards.count("not compared: partial period") == 8
        assert "-0.0" not in page.inner_text("body")
        assert page.evaluate(RUNS_OFF_SCREEN) == [] and page.evaluate(OVERLAPPING_TEXT)["overlaps"] == []
    finally:
        page.close()


def test_a_window_without_data_is_a_page_that_says_so(browser, traffic: Path, tmp_path: Path) -> None:
    written = write(traffic, Period(date(2026, 11, 1), date(2026, 11, 7)), tmp_path)
    assert written.bundle == "none" and written.path.stat().st_size < 20_000
    page = browser.new_page(viewport={"width": 390, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(written.path.as_uri())
        assert errors == []
        assert page.title() == "Position bias report, 2026-11-01 to 2026-11-07 (no data)"
        assert page.inner_text("section#no-data") == (
            "No data for this window\n\nThere are no searches from 2026-11-01 to 2026-11-07 (7 days) in the "
            "warehouse, so there is nothing to report. The warehouse holds searches from 2026-10-01 to 2026-10-09."
        )
        assert page.locator("section#headline").count() == 0
    finally:
        page.close()
