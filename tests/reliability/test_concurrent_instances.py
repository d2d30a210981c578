"""Issue 25: several processes started at once on one Dagster instance all run. The first open of a home
creates its storages and stamps their alembic revision; four `interactions load` doing that at once on a new
DAGSTER_HOME used to fail, all four, with "Version table 'alembic_version' has more than one head present" (or
a unique constraint on it). On PostgreSQL (several machines) four openings of a new database failed in 4 rounds
of 10 ("type \"runs\" already exists", "relation \"instance_info\" already exists", a duplicate pool)."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from mixpeek_emulator.server import EmulatorServer
from tests.orchestration.test_machines import instance_yaml
from tests.pipeline.conftest import API_KEY, DAY, NAMESPACE, fill, spread_over_day
from tests.services import PostgresServer

PROCESSES = 4
RECORDS = 300  # a day each: the test is about the instance, not the load

# A module run as `python -m`, once Dagster and what the module needs are imported (seconds of CPU, which two
# cores spread over several seconds): each process says it is ready, then waits for the go file, so the four
# open the instance together, not one after the other as their imports happen to finish. Without it the
# loads failed on the code before the lock in 1 run of 2; with it, in every run.
BARRIER = """
import runpy, sys, time
from pathlib import Path
import dagster, dagster_postgres, interactions_etl.settings
ready, go, module, preload = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
if preload:
    __import__(preload)
sys.argv = [module, *sys.argv[5:]]
ready.touch()
while not go.exists():
    time.sleep(0.005)
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def start_together(
    commands: list[tuple[str, str, list[str]]], folders: list[Path], env: list[dict[str, str]], go: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Run `python -m MODULE ARGS...` (after importing PRELOAD) in each folder, all let go at once; their results."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", BARRIER, str(folder / "ready"), str(go), module, preload, *args],
            env=environment,
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for (module, preload, args), folder, environment in zip(commands, folders, env, strict=True)
    ]
    started = time.monotonic()
    while not all((folder / "ready").exists() for folder in folders):
        assert all(p.poll() is None for p in processes), [p.communicate()[0][-2000:] for p in processes]
        assert time.monotonic() - started < 90, "the processes did not get ready in 90 s"
        time.sleep(0.05)
    go.touch()
    results = []
    for process in processes:
        output = process.communicate(timeout=180)[0]
        results.append(subprocess.CompletedProcess(process.args, process.returncode, output))
    return results


def assert_all_succeeded(results: list[subprocess.CompletedProcess[str]]) -> None:
    # The error's line: the CLI's `error:` line, else the last exception's (a traceback's end may be SQL).
    said = [
        [line for line in r.stdout.splitlines() if line.startswith("error:") or "Error: " in line]
        for r in results
    ]
    failed = [
        (lines or r.stdout.splitlines())[-1:] for r, lines in zip(results, said, strict=True) if r.returncode
    ]
    assert not failed, f"{len(failed)} of {len(results)} failed: {failed}"
    assert not any("Traceback" in r.stdout for r in results), [r.stdout[-3000:] for r in results]


def query(database: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(database)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_four_loads_at_once_on_a_new_dagster_home(server: EmulatorServer, tmp_path: Path) -> None:
    days = [DAY - timedelta(days=i) for i in range(PROCESSES)]
    for i, day in enumerate(days):
        fill(server, spread_over_day(RECORDS, day, start_index=i * RECORDS))
    home = tmp_path / "dagster_home"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_", "WAREHOUSE_"))}
    env = {**clean, "MIXPEEK_BASE_URL": server.base_url, "MIXPEEK_API_KEY": API_KEY, "MIXPEEK_NAMESPACE": NAMESPACE,
           "MIXPEEK_REQUESTS_PER_SECOND": "500", "DAGSTER_HOME": str(home)}  # fmt: skip
    # Each load a day of its own, into a warehouse file of its own (DuckDB's single writer is not what is
    # tested), in a folder of its own (the reports), on the one Dagster home; the three that wait for the first
    # open the home it created, and the four runs then write to it side by side.
    folders = [tmp_path / f"load{i}" for i in range(PROCESSES)]
    for folder in folders:
        folder.mkdir()
    loads = [
        ("interactions_etl.cli", "interactions_etl.definitions",
         ["load", "--start", day.isoformat(), "--end", day.isoformat(), "--warehouse", str(folder / "w.duckdb")])
        for day, folder in zip(days, folders, strict=True)
    ]  # fmt: skip
    started = time.monotonic()
    assert_all_succeeded(start_together(loads, folders, [env] * PROCESSES, tmp_path / "go"))
    for day, folder in zip(days, folders, strict=True):
        with duckdb.connect(str(folder / "w.duckdb"), read_only=True) as con:
            landed = con.sql("SELECT partition_date, count(*) FROM raw.interactions GROUP BY ALL").fetchall()
        assert landed == [(day, RECORDS)]
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:  # the four runs, all in the one home
        assert sorted(r.tags["dagster/asset_partition_range_start"] for r in instance.get_runs()) == sorted(
            day.isoformat() for day in days
        )
    print(f"{PROCESSES} loads on a new home: {time.monotonic() - started:.1f} s")


def test_openings_at_once_of_an_existing_dagster_home(tmp_path: Path) -> None:
    """What dev.py runs before `dg dev`, and each load before its run, two at once on a home already created (the
    four loads above open one that the first of them created): the lock is taken and let go each time, and the
    home is left as it was (the pool's limit set once)."""
    from interactions_etl.assets.policies import WAREHOUSE_POOL

    home = tmp_path / "dagster_home"
    openers = 2  # each a Python process importing Dagster: two show what four do
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "WAREHOUSE_"))}
    subprocess.run([sys.executable, "-m", "interactions_etl.instance", str(home)], env=clean, check=True,
                   timeout=120, capture_output=True)  # fmt: skip
    folders = [tmp_path / f"opener{i}" for i in range(openers)]
    for folder in folders:
        folder.mkdir()
    opens = [("interactions_etl.instance", "", [str(home)])] * openers
    results = start_together(opens, folders, [clean] * openers, tmp_path / "go")
    assert_all_succeeded(results)
    assert [r.stdout.strip() for r in results] == [str(home)] * openers
    assert query(home / "history" / "runs.db", "SELECT count(*) FROM alembic_version") == [(1,)]
    limits = query(
        home / "history" / "runs" / "index.db", 'SELECT concurrency_key, "limit" FROM concurrency_limits'
    )
    assert limits == [(WAREHOUSE_POOL, 1)]


def test_a_home_locked_too_long_is_one_line_naming_the_lock(tmp_path: Path) -> None:
    from interactions_etl.instance import LOCK_FILE, InstanceLockTimeout, ensure_dagster_home

    home = tmp_path / "dagster_home"
    home.mkdir()
    # flock belongs to an open file: this process holding the lock makes its second open wait, as another would.
    with (home / LOCK_FILE).open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(str(os.getpid()))
        held.flush()
        started = time.monotonic()
        with pytest.raises(InstanceLockTimeout) as raised:
            ensure_dagster_home(home, lock_timeout_seconds=1)
        waited = time.monotonic() - started
    assert str(raised.value) == (
        f"{home / LOCK_FILE} is locked by another process (PID {os.getpid()}) creating or opening the Dagster "
        "instance; waited 1 s for it"
    )
    assert 1 <= waited < 10
    assert sorted(p.name for p in home.iterdir()) == [LOCK_FILE]  # nothing created while it waited
    ensure_dagster_home(home)  # the lock released, the home is created
    assert (home / "dagster.yaml").exists() and (home / "history" / "runs.db").exists()


@pytest.fixture
def postgres_instance(postgres_server: PostgresServer, tmp_path: Path) -> tuple[str, list[Path]]:
    """A new PostgreSQL database, and four machines' Dagster homes keeping their storage in it (each home a
    folder of its own: a file lock of its own)."""
    database = postgres_server.create_database()
    homes = []
    for i in range(PROCESSES):
        home = tmp_path / f"machine{i}" / "dagster_home"
        home.mkdir(parents=True)
        (home / "dagster.yaml").write_text(instance_yaml(postgres_server, database))
        homes.append(home)
    return database, homes


def test_four_machines_open_one_new_postgres_instance_at_once(
    postgres_server: PostgresServer, postgres_instance: tuple[str, list[Path]], tmp_path: Path
) -> None:
    from interactions_etl.assets.policies import WAREHOUSE_POOL

    database, homes = postgres_instance
    env = {**os.environ, "DAGSTER_PG_PASSWORD": postgres_server.password}
    opens = [("interactions_etl.instance", "", [str(home)]) for home in homes]
    assert_all_succeeded(start_together(opens, [h.parent for h in homes], [env] * PROCESSES, tmp_path / "go"))
    limits = postgres_server.execute('SELECT concurrency_key, "limit" FROM concurrency_limits', database)
    assert limits == [(WAREHOUSE_POOL, 1)]


def test_a_postgres_instance_locked_too_long_is_one_line_without_the_password(
    postgres_server: PostgresServer,
    postgres_instance: tuple[str, list[Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from interactions_etl import instance

    database, (home, *_) = postgres_instance
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", postgres_server.password)
    (url,) = instance.postgres_urls(home)
    from interactions_etl.pg_lock import KEY_SPACE

    number = instance.ADVISORY_LOCK_NUMBER
    engine = sa.create_engine(url, poolclass=sa.NullPool)  # a session ends when its connection closes
    try:
        # Another machine creating the instance: its session holds the lock.
        with engine.connect() as other_machine:
            other_machine.execute(sa.text(f"SELECT pg_advisory_lock({KEY_SPACE}, {number})"))
            with pytest.raises(instance.InstanceLockTimeout) as raised:
                instance.ensure_dagster_home(home, lock_timeout_seconds=1)
            assert (
                "runs" not in sa.inspect(other_machine).get_table_names()
            )  # nothing created while it waited
        # The holder is named: here a session that set no application_name.
        assert re.fullmatch(
            rf"PostgreSQL advisory lock {KEY_SPACE}/{number} in the database {database} on "
            rf"127\.0\.0\.1:{postgres_server.port} is held by 'an unnamed client' \(PostgreSQL pid \d+, for \d+ s\), "
            "creating or opening the Dagster instance; waited 1 s for it",
            str(raised.value),
        ), str(raised.value)
        assert postgres_server.password not in str(raised.value)
        instance.ensure_dagster_home(home)  # the lock ended with the session: the instance is created
        with engine.connect() as connection:
            assert "runs" in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()
