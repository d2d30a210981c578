"""`interactions load` on the lake: the nightly's Dagster job, configured only by the environment, loads the
days, builds staging, the marts and the report on the lake, and publishes the build's snapshot; the catalog's
password appears in no output and no file of Dagster's instance."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from interactions_etl import lake as lakes
from interactions_etl import warehouse
from tests.lake.conftest import lake_cli_env
from tests.pipeline.conftest import API_KEY, DAY, fill, spread_over_day
from tests.reliability.test_secrets import readable_bytes
from tests.services import PostgresServer


def test_interactions_load_on_the_lake(server, postgres_server: PostgresServer, tmp_path: Path) -> None:
    for i in range(2):
        fill(server, spread_over_day(300, DAY + timedelta(days=i), start_index=10_000 * i))
    lake = postgres_server.lake(tmp_path / "lake-data")
    env = lake_cli_env(server, lake, tmp_path / ".dagster_home")
    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "load", "--start", DAY.isoformat(),
         "--end", (DAY + timedelta(days=1)).isoformat()],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert postgres_server.password not in output and API_KEY not in output
    assert not (tmp_path / "warehouse.duckdb").exists()  # nothing went to the default file
    con = warehouse.connect(lake, read_only=True)
    try:
        per_day = con.execute(
            "SELECT partition_date, count(*) FROM raw.interactions GROUP BY 1 ORDER BY 1"
        ).fetchall()
        searches = con.execute("SELECT sum(searches) FROM marts.search_ctr").fetchone()[0]
        published = lakes.published_snapshot(con)
    finally:
        con.close()
    assert per_day == [(DAY, 300), (DAY + timedelta(days=1), 300)]
    assert searches == 60
    assert (tmp_path / "reports" / "latest.html").exists()
    assert "DuckLake lake_" in (tmp_path / "reports" / "latest.html").read_text()
    # Analysts attach at the published snapshot: the build as it ended.
    assert published is not None
    reader = warehouse.connect(lake, snapshot=published)
    try:
        assert reader.execute("SELECT count(*) FROM raw.interactions").fetchone()[0] == 600
        assert reader.execute("SELECT sum(searches) FROM marts.search_ctr").fetchone()[0] == 60
    finally:
        reader.close()
    secret = postgres_server.password.encode()
    for path in (tmp_path / ".dagster_home").rglob("*"):
        if path.is_file():
            assert secret not in readable_bytes(path), path
