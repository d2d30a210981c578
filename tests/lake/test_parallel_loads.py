"""Four partition loads in four processes into one lake while a reader queries it (issue 16).

Every load succeeds (a commit that loses to another's is retried from the day staged locally), the reader
never sees part of a day, and the lake ends equal to a serial load of the same days into a DuckDB file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from interactions_etl import warehouse
from interactions_etl.lake import Lake
from interactions_etl.landing import load_day
from mixpeek_emulator.app import Emulator, EmulatorConfig
from mixpeek_emulator.prefill import prefill
from mixpeek_emulator.server import EmulatorServer
from tests.conftest import refresh_downstream
from tests.pipeline.conftest import API_KEY, NAMESPACE, make_client
from tests.reliability.test_fault_matrix import MARTS_SETTINGS, snapshot
from tests.services import location_arg

START = date(2026, 10, 5)
DAYS = [START + timedelta(days=i) for i in range(4)]
PER_DAY = 3000
ROOT = Path(__file__).resolve().parents[2]

LOAD = textwrap.dedent(
    """
    import json, sys
    from datetime import date
    from pydantic import SecretStr
    from interactions_etl.landing import load_day
    from interactions_etl.mixpeek.client import MixpeekClient
    from interactions_etl.mixpeek.settings import MixpeekSettings
    from tests.services import location_from_arg

    settings = MixpeekSettings(base_url=sys.argv[1], api_key=SecretStr(sys.argv[2]), namespace=sys.argv[3])
    with MixpeekClient(settings, requests_per_second=1000.0) as client:
        report = load_day(client, location_from_arg(sys.argv[4]), date.fromisoformat(sys.argv[5]), sys.argv[6],
                          page_size=500)
    print(json.dumps({"day": sys.argv[5], "rows": report.rows, "conflicts": report.commit_conflicts}))
    """
)


CHILD = [sys.executable, "-c", LOAD]


def load_in_parallel(server: EmulatorServer, lake: Lake, run: str) -> list[dict]:
    processes = [
        subprocess.Popen(
            [
                *CHILD,
                server.base_url,
                API_KEY,
                NAMESPACE,
                location_arg(lake),
                day.isoformat(),
                f"{run}-{day}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for day in DAYS
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err.decode()[-3000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


class Reader(threading.Thread):
    """Queries the lake's rows per day over and over, as an analyst's dashboard would, recording each view."""

    def __init__(self, lake: Lake) -> None:
        super().__init__(daemon=True)
        self.lake, self.stop, self.views, self.errors = lake, threading.Event(), [], []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                con = warehouse.connect(self.lake, read_only=True)
                try:
                    counts = con.execute(
                        "SELECT partition_date, count(*) FROM raw.interactions GROUP BY ALL"
                    ).fetchall()
                finally:
                    con.close()
                self.views.append(dict(counts))
            except Exception as exc:  # recorded, and the test fails on it
                self.errors.append(repr(exc))
            time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_four_loads_in_four_processes_with_a_reader(new_lake: Callable[[], Lake], tmp_path: Path) -> None:
    emulator = Emulator(EmulatorConfig(api_keys={API_KEY: None}, namespaces=[NAMESPACE]))
    prefill(emulator, NAMESPACE, seed=31, start=START, days=len(DAYS), per_day=PER_DAY)
    server = EmulatorServer(emulator).start()
    try:
        serial = tmp_path / "serial.duckdb"
        with make_client(server) as api:
            expected = {day: load_day(api, serial, day, f"serial-{day}", page_size=500).rows for day in DAYS}
        lake = new_lake()
        con = warehouse.connect(lake)  # the tables are created once, before the parallel loads
        warehouse.ensure_raw_tables(con)
        con.close()
        reader = Reader(lake)
        reader.start()
        try:
            first = load_in_parallel(server, lake, "first")  # four new days
            again = load_in_parallel(server, lake, "again")  # the same four days replaced at once: conflicts
        finally:
            reader.stop.set()
            reader.join(timeout=60)
    finally:
        server.stop()

    assert {r["day"]: r["rows"] for r in first} == {d.isoformat(): n for d, n in expected.items()}
    assert {r["day"]: r["rows"] for r in again} == {d.isoformat(): n for d, n in expected.items()}
    assert not reader.errors, reader.errors[:3]
    assert len(reader.views) > 10, "the reader barely ran"
    partial = [view for view in reader.views if any(view.get(d, 0) not in (0, expected[d]) for d in DAYS)]
    assert not partial, f"the reader saw part of a day: {partial[:3]}"
    replaced_views = reader.views[-3:]  # after the first round every day is whole, and stays whole
    assert all(view == expected for view in replaced_views)
    # Staging and the marts built on the lake equal those built on the file loaded one day after another.
    for location in (serial, lake):
        refresh_downstream(location, MARTS_SETTINGS)
    assert snapshot(lake) == snapshot(serial)
    print(f"commit conflicts retried: first round {sum(r['conflicts'] for r in first)}, "
          f"replacing round {sum(r['conflicts'] for r in again)}")  # fmt: skip
