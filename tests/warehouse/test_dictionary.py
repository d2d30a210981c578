"""Column comments and docs/warehouse.md: every column explained, the document current, its examples runnable."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb

from interactions_etl import warehouse
from interactions_etl.dictionary import HEADER, SCHEMAS, build_dictionary
from interactions_etl.marts import ensure_mart_tables, refresh_marts
from interactions_etl.staging import refresh_staging
from tests.warehouse.test_staging import E1, E2, E3, E4, E5, land

ROOT = Path(__file__).resolve().parents[2]


def test_every_table_and_column_has_a_comment() -> None:
    con = duckdb.connect()
    ensure_mart_tables(con)
    tables = warehouse.rows(con, "dictionary/tables", schemas=list(SCHEMAS))
    columns = warehouse.rows(con, "dictionary/columns", schemas=list(SCHEMAS))
    con.close()
    assert len(tables) >= 14
    assert [t[:2] for t in tables if not t[2]] == []
    assert [c[:3] for c in columns if not c[4]] == []


def test_docs_warehouse_md_is_current() -> None:
    assert (ROOT / "docs" / "warehouse.md").read_text() == build_dictionary(), (
        "docs/warehouse.md is stale: run `interactions dictionary`"
    )


def test_the_example_queries_run(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    land(con, E1 + E2 + E3 + E4 + E5, "run-1")
    refresh_staging(con)
    refresh_marts(con)
    queries = [
        q.strip()
        for block in re.findall(r"```sql\n(.*?)```", HEADER, re.S)
        for q in block.split(";")
        if q.strip()
    ]
    assert len(queries) == 6
    answers = {query.splitlines()[0]: con.execute(query).fetchall() for query in queries}
    revenue = answers["-- Revenue per currency per day"]
    con.close()
    assert revenue == [(date(2026, 10, 5), "USD", 20.0)]
