"""The lake backend on a real PostgreSQL catalog: opening it, its errors, and that secrets stay out of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from interactions_etl import lake as lakes
from interactions_etl import warehouse
from interactions_etl.lake import Lake, LakeError
from tests.services import PostgresServer


def test_the_lake_opens_with_the_warehouse_schemas_as_default(new_lake: Callable[[], Lake]) -> None:
    lake = new_lake()
    con = warehouse.connect(lake)
    try:
        assert warehouse.is_lake(con)
        warehouse.ensure_raw_tables(con)
        tables = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = 'lake' ORDER BY 1"
        ).fetchall()
        assert ("raw.interactions",) in tables
        first = lakes.current_snapshot(con)
        warehouse.ensure_raw_tables(con)  # present: the catalog is not written again
        assert lakes.current_snapshot(con) == first
    finally:
        con.close()


def test_a_wrong_password_is_one_line_without_the_password(
    new_lake: Callable[[], Lake], postgres_server: PostgresServer
) -> None:
    wrong = replace(new_lake(), password=SecretStr("not-the-password-4711"))
    with pytest.raises(LakeError) as raised:
        warehouse.connect(wrong)
    message = str(raised.value)
    assert "\n" not in message
    assert "password authentication failed" in message
    assert "not-the-password-4711" not in message and postgres_server.password not in message


def test_a_file_written_by_duckdb_2_says_what_to_do() -> None:
    fixture = Path(__file__).parent.parent / "fixtures" / "duckdb-2.0.1" / "written-by-2.0.1.duckdb"
    with pytest.raises(warehouse.WarehouseVersionError) as raised:
        warehouse.connect(fixture, read_only=True)
    assert "interactions migrate --from" in str(raised.value) and "\n" not in str(raised.value)


def test_processes_opening_a_new_lake_at_once_all_succeed(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The first parallel loads of a new lake each create its catalog on ATTACH: the race is retried."""
    import subprocess
    import sys

    from tests.services import location_arg

    lake = postgres_server.lake(tmp_path / "lake-data")
    script = (
        "import sys\nfrom interactions_etl import warehouse\nfrom tests.services import location_from_arg\n"
        "warehouse.connect(location_from_arg(sys.argv[1])).close()\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    processes = [
        subprocess.Popen([sys.executable, "-c", script, location_arg(lake)], cwd=root, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=300)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, [e[-500:] for e in errors if e]
