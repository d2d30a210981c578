"""The README's demo command, at its default size: it must finish, pass every blocking check, and say where the
warehouse is. (A full-size run once failed a check that small fixtures never reached.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest


@pytest.mark.slow
def test_the_default_demo_builds_a_checked_warehouse(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "demo", "--warehouse", str(warehouse)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    published = tmp_path / "warehouse.published.duckdb"
    assert f"analysts' copy (open this one): {published}" in completed.stdout
    assert f"duckdb -readonly {published}" in completed.stdout  # the query to try opens the copy
    latest = tmp_path / "reports" / "latest.html"
    assert f"position-bias report (open it in a browser): {latest}" in completed.stdout
    assert latest.stat().st_size > 1_000_000  # plotly.js is inlined: the file stands alone
    con = duckdb.connect(str(warehouse), read_only=True)
    days = con.execute("SELECT count(DISTINCT partition_date), count(*) FROM raw.interactions").fetchone()
    marts = con.execute("SELECT count(*) FROM marts.search_ctr").fetchone()[0]
    con.close()
    assert days[0] == 7 and 300_000 < days[1] < 400_000
    assert marts > 0
