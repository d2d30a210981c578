"""Analysts and the nightly load side by side: an analyst holding the published copy open (read-only, in
another process) neither blocks the load nor sees a half-written partition; the reason for the copy is that
a reader of the main file, in another process, does block the writer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from interactions_etl import warehouse
from interactions_etl.landing import load_day
from tests.conftest import refresh_downstream
from tests.pipeline.conftest import DAY, fill, make_client, spread_over_day

# An analyst's session: open read-only, count, then keep counting until told to stop, printing what it sees.
ANALYST = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("open", con.execute("SELECT count(*) FROM raw.interactions").fetchall()[0][0], flush=True)
    for line in sys.stdin:
        print("sees", con.execute("SELECT count(*) FROM raw.interactions").fetchall()[0][0], flush=True)
    """
)


def build(server, path: Path, day) -> None:  # type: ignore[no-untyped-def]
    with make_client(server) as client:
        load_day(client, str(path), day, f"run-{day}")
    refresh_downstream(path)


def start_analyst(path: Path) -> subprocess.Popen[str]:
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert analyst.stdout is not None
    line = analyst.stdout.readline()
    assert line.startswith("open"), analyst.stderr.read() if analyst.stderr else line
    return analyst


def ask(analyst: subprocess.Popen[str]) -> int:
    assert analyst.stdin is not None and analyst.stdout is not None
    analyst.stdin.write("count\n")
    analyst.stdin.flush()
    return int(analyst.stdout.readline().split()[1])


def test_an_analyst_on_the_published_copy_does_not_block_the_load(server, tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    fill(server, spread_over_day(1000))
    build(server, path, DAY)
    published = warehouse.publish(path)
    assert published == tmp_path / "warehouse.published.duckdb"
    analyst = start_analyst(published)
    try:
        assert ask(analyst) == 1000
        fill(server, spread_over_day(1500, DAY + timedelta(days=1), start_index=10_000))
        started = time.monotonic()
        build(server, path, DAY + timedelta(days=1))  # not blocked by the analyst
        warehouse.publish(path)
        assert time.monotonic() - started < 60
        assert ask(analyst) == 1000  # the open session keeps its consistent copy, never a half-loaded one
    finally:
        analyst.stdin.close()  # type: ignore[union-attr]
        analyst.wait(timeout=30)
    fresh = duckdb.connect(str(published), read_only=True)
    assert fresh.execute("SELECT count(*) FROM raw.interactions").fetchall()[0][0] == 2500
    assert fresh.execute("SELECT count(*) FROM marts.search_ctr").fetchall()[0][0] > 0
    fresh.close()


def test_why_a_copy_a_reader_of_the_main_file_blocks_the_writer(server, tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    fill(server, spread_over_day(500))
    build(server, path, DAY)
    analyst = start_analyst(path)
    try:
        # A writer waits its turn, then gives up naming the process that holds the file.
        started = time.monotonic()
        with pytest.raises(warehouse.WarehouseLockedError, match=rf"locked by .*\(PID {analyst.pid}\)"):
            warehouse.connect(path, lock_timeout_seconds=1.5)
        assert time.monotonic() - started >= 1.5
    finally:
        analyst.stdin.close()  # type: ignore[union-attr]
        analyst.wait(timeout=30)
