"""`interactions report` on thin data and with pruning, as a person runs it (a subprocess: exit code, output)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def interactions_report(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("INTERACTIONS_", "REPORTS_", "WAREHOUSE_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "report", *args],
        env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_window_without_data_writes_a_page_that_says_so_and_exits_0(
    hand_built: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    done = interactions_report(tmp_path, "--start", "2026-12-01", "--end", "2026-12-01", "--warehouse",
                               str(hand_built), "--out-dir", str(out))  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output and "error" not in output.lower(), output
    assert (
        "No searches in this window. The warehouse holds searches from 2026-10-04 to 2026-10-05."
        in done.stdout
    )
    page = (out / "position_bias_2026-12-01.html").read_text()
    assert "No data for this window" in page and "There are no searches from 2026-12-01 to 2026-12-01" in page
    assert (out / "latest.html").read_text() == page


def test_the_number_of_reports_kept_comes_from_the_option_else_the_environment(
    hand_built: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    for day in ("2026-09-01", "2026-09-02", "2026-09-03"):
        (out / f"position_bias_{day}.html").write_text(day)
    (out / "notes.txt").write_text("not ours")
    window = (
        "--start",
        "2026-10-05",
        "--end",
        "2026-10-05",
        "--warehouse",
        str(hand_built),
        "--out-dir",
        str(out),
    )
    done = interactions_report(tmp_path, *window, INTERACTIONS_REPORTS_KEEP="3")
    assert done.returncode == 0, done.stderr
    assert "pruned:  1 older dated reports (keeping the newest 3)" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "latest.html", "notes.txt", "position_bias_2026-09-02.html", "position_bias_2026-09-03.html",
        "position_bias_2026-10-05.html",
    ]  # fmt: skip
    done = interactions_report(tmp_path, *window, "--keep", "1", INTERACTIONS_REPORTS_KEEP="3")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "latest.html",
        "notes.txt",
        "position_bias_2026-10-05.html",
    ]
    bad = interactions_report(tmp_path, *window, INTERACTIONS_REPORTS_KEEP="all")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert (
        bad.stderr.strip()
        == "error: INTERACTIONS_REPORTS_KEEP is 'all': Input should be a valid integer, unable to parse string as an integer"
    )
