"""A warehouse holding the hand-built day of tests/warehouse/test_staging.py, small enough to build per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from interactions_etl import warehouse
from interactions_etl.marts import refresh_marts
from interactions_etl.staging import refresh_staging
from tests.warehouse.test_staging import E1, E2, E3, E4, E5, land


@pytest.fixture
def hand_built(tmp_path: Path) -> Path:
    """The hand-built day (2026-10-05: e1..e4) and the evening before (2026-10-04: e5)."""
    con = warehouse.connect(tmp_path / "w.duckdb")
    try:
        land(con, E1 + E2 + E3 + E4 + E5, "run-1")
        refresh_staging(con)
        refresh_marts(con)
    finally:
        con.close()
    return tmp_path / "w.duckdb"
