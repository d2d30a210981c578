"""The report as a product manager opens it: headless Chromium (Debian's package; `python3 dev.py test`
installs it where missing) on the file itself, at laptop and phone width, with every request watched."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from pipelines import warehouse
from pipelines.emulator.generator import TrafficConfig, generate_traffic
from pipelines.landing import land_records
from pipelines.marts import refresh_marts
from pipelines.report import write_report
from pipelines.report.data import Period
from pipelines.staging import refresh_staging

SECTIONS = ("headline", "attention", "position-effect", "click-share", "opportunities", "queries", "segments",
            "data-quality")  # fmt: skip
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is missing: `python3 dev.py test` installs Debian's chromium package (as root)")
    return found


def build_warehouse(path: Path, config: TrafficConfig) -> None:
    land_records(path, generate_traffic(config).records(), "report-test")
    con = warehouse.connect(path)
    try:
        refresh_staging(con)
        refresh_marts(con)
    finally:
        con.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    build_warehouse(
        folder / "w.duckdb", TrafficConfig(seed=3, start=date(2026, 10, 1), days=8, per_day=40_000)
    )
    con = warehouse.connect(folder / "w.duckdb", read_only=True)
    try:
        written = write_report(con, Period(date(2026, 10, 5), date(2026, 10, 8)), folder / "reports")
    finally:
        con.close()
    assert written.path == folder / "reports" / "position_bias_2026-10-08.html"
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
        # Phone width: nothing wider than the screen but the tables' own scrolling boxes.
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
    build_warehouse(tmp_path / "w.duckdb", config)
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
