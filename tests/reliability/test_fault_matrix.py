"""The fault matrix (issue 6): each fault injected by the emulator, then the warehouse compared with the one a
clean run builds from the same data: same raw rows, same staging, same marts, no duplicates.

Two days of generated traffic (seed 21, 3000 interactions a day), pages of 200, the whole pipeline each time:
load both days, refresh staging, refresh the marts. Figures per case (retries, rows, duplicates) are kept in
FIGURES; with FAULT_MATRIX_FIGURES=<path> set, the session writes them there as JSON for docs/reliability.md.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from interactions_etl import warehouse
from interactions_etl.estimators.position_bias import CurveSettings
from interactions_etl.lake import Lake
from interactions_etl.landing import LoadReport, load_day
from interactions_etl.marts import MartsSettings, refresh_marts
from interactions_etl.mixpeek.client import RetryPolicy
from interactions_etl.staging import refresh_staging
from mixpeek_emulator.app import Emulator, EmulatorConfig
from mixpeek_emulator.faults import FaultConfig
from mixpeek_emulator.prefill import prefill
from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import API_KEY, NAMESPACE, make_client
from tests.services import location_arg

START = date(2026, 10, 5)
DAYS = [START, START + timedelta(days=1)]
PER_DAY = 3000
PAGE_SIZE = 200
MARTS_SETTINGS = MartsSettings(curve=CurveSettings(min_pair_impressions=20, bootstrap_replicates=10))
RUN_COLUMNS = {
    "loaded_at",
    "run_id",
    "refreshed_at",
    "fitted_at",
    "absorbed_until",
}  # differ by run, by design
BOOKKEEPING = {"refresh_state", "changed_event_dates", "changed_execution_dates", "absorbed_loads"}
FIGURES: dict[str, dict[str, Any]] = {}


def start_server(*, prefilled: bool = True, **config: Any) -> EmulatorServer:
    emulator = Emulator(EmulatorConfig(api_keys={API_KEY: None}, namespaces=[NAMESPACE], **config))
    if prefilled:
        prefill(emulator, NAMESPACE, seed=21, start=START, days=len(DAYS), per_day=PER_DAY)
    return EmulatorServer(emulator).start()


def store_of(server: EmulatorServer):  # type: ignore[no-untyped-def]
    return next(iter(server.emulator.stores.values()))


@pytest.fixture
def servers() -> Iterator[Callable[..., EmulatorServer]]:
    started: list[EmulatorServer] = []

    def make(**config: Any) -> EmulatorServer:
        started.append(start_server(**config))
        return started[-1]

    yield make
    for server in started:
        server.stop()


def run_pipeline(server: EmulatorServer, path: warehouse.Location, **client: Any) -> list[LoadReport]:
    client.setdefault("retry", RetryPolicy(max_attempts=12, initial_backoff=0.01, max_backoff=0.05))
    reports = []
    with make_client(server, **client) as api:
        for day in DAYS:
            reports.append(load_day(api, path, day, f"run-{day}", page_size=PAGE_SIZE))
    con = warehouse.connect(path)
    try:
        refresh_staging(con)
        refresh_marts(con, MARTS_SETTINGS)
    finally:
        con.close()
    return reports


def _value(value: Any) -> Any:
    # Doubles are sums that DuckDB may add in another order: compare to 9 significant digits.
    return float(f"{value:.9g}") if isinstance(value, float) and math.isfinite(value) else value


def snapshot(path: warehouse.Location) -> dict[str, list[tuple]]:
    """Every table of raw, staging and marts, without the columns that say when or by which run it was built."""
    con = warehouse.connect(path, read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name IN ('raw', 'staging', 'marts')"
        ).fetchall()
        result = {}
        for schema, name in tables:
            if name in BOOKKEEPING:
                continue
            columns = [c[0] for c in con.execute(f'DESCRIBE "{schema}"."{name}"').fetchall()]
            kept = ", ".join(f'"{c}"' for c in columns if c not in RUN_COLUMNS)
            rows = con.execute(f'SELECT {kept} FROM "{schema}"."{name}" ORDER BY ALL').fetchall()
            result[f"{schema}.{name}"] = [tuple(_value(v) for v in row) for row in rows]
        return result
    finally:
        con.close()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    server = start_server()
    try:
        path = tmp_path_factory.mktemp("clean") / "w.duckdb"
        run_pipeline(server, path)
    finally:
        server.stop()
    tables = snapshot(path)
    assert len(tables["raw.interactions"]) > 5000 and tables["marts.position_bias"]
    return tables


def assert_same_warehouse(got: dict[str, list[tuple]], clean: dict[str, list[tuple]]) -> None:
    assert got.keys() == clean.keys()
    for table in clean:
        assert got[table] == clean[table], f"{table} differs from the clean run"


def duplicates(path: warehouse.Location) -> int:
    con = warehouse.connect(path, read_only=True)
    try:
        return con.execute(
            "SELECT count(*) - count(DISTINCT interaction_id) FROM raw.interactions"
        ).fetchall()[0][0]
    finally:
        con.close()


def record_figures(
    case: str, reports: list[LoadReport], path: warehouse.Location, **extra: Any
) -> dict[str, Any]:
    if isinstance(path, Lake):
        case = f"{case} (DuckLake)"
    FIGURES[case] = {
        "requests": sum(r.requests for r in reports),
        "retries": sum(r.retries for r in reports),
        "throttled": sum(r.throttled for r in reports),
        "rows": sum(r.rows for r in reports),
        "rejected": sum(r.rejected for r in reports),
        "duplicates_dropped": sum(r.duplicates for r in reports),
        "duplicates_in_table": duplicates(path),
        "commit_conflicts": sum(r.commit_conflicts for r in reports),
        **extra,
    }
    return FIGURES[case]


TRANSPORT_FAULTS = {
    "429 storm with Retry-After": FaultConfig(throttle_rate=0.3, retry_after_seconds=0.02, seed=1),
    "500 and 503": FaultConfig(error_rate=0.3, retry_after_seconds=0.02, seed=2),
    "connections dropped mid-body": FaultConfig(drop_rate=0.3, scope="list", seed=3),
    "truncated JSON": FaultConfig(truncate_rate=0.3, scope="list", seed=4),
    "the same record on two pages": FaultConfig(duplicate_rate=0.5, scope="list", seed=5),
}


@pytest.mark.parametrize("case", list(TRANSPORT_FAULTS))
def test_transport_faults_leave_the_clean_warehouse(
    servers, clean, location: warehouse.Location, case: str
) -> None:
    server = servers(faults=TRANSPORT_FAULTS[case])
    path = location
    reports = run_pipeline(server, path)
    assert_same_warehouse(snapshot(path), clean)
    figures = record_figures(case, reports, path)
    if case == "the same record on two pages":
        assert figures["duplicates_dropped"] > 0
    else:
        assert figures["retries"] > 0
    assert figures["duplicates_in_table"] == 0


def test_timeouts_are_retried(servers, clean, location: warehouse.Location) -> None:
    # Every request is slow and a third are slower than the client waits.
    server = servers(faults=FaultConfig(latency_ms=20, latency_jitter_ms=450, scope="list", seed=6))
    path = location
    reports = run_pipeline(server, path, timeout_seconds=0.32)
    assert_same_warehouse(snapshot(path), clean)
    assert record_figures("timeouts", reports, path)["retries"] > 0


def test_a_malformed_record_is_quarantined_and_a_rerun_heals(
    servers, clean, location: warehouse.Location
) -> None:
    server = servers(faults=FaultConfig(malformed_rate=0.2, scope="list", seed=7))
    path = location
    reports = run_pipeline(server, path)
    got = snapshot(path)
    rejected = {row[1] for row in got["raw.rejected_interactions"]}  # (partition_date, interaction_id, ...)
    # (partition_date, interaction_id, reason, raw_json, user_id): the raw JSON kept
    assert rejected and all(row[3] for row in got["raw.rejected_interactions"])
    # Nothing else is lost: the raw table is the clean one minus exactly the quarantined records.
    assert got["raw.interactions"] == [r for r in clean["raw.interactions"] if r[0] not in rejected]
    record_figures("a malformed record inside a page", reports, path, quarantined=len(rejected))
    server.emulator.faults.configure(FaultConfig())  # the API is fixed; the nightly lookback reloads the days
    run_pipeline(server, path)
    assert_same_warehouse(snapshot(path), clean)


def test_records_inserted_and_deleted_while_paging(servers, location: warehouse.Location) -> None:
    """Loading today while events arrive and others are erased: the re-run lands the server's final state."""
    import httpx

    now = datetime.now(UTC)
    if now - now.replace(hour=0, minute=0, second=0, microsecond=0) < timedelta(seconds=30):
        time.sleep(30)  # keep every record on one UTC day
    server = servers(prefilled=False)
    today = datetime.now(UTC).date()
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": NAMESPACE}
    with httpx.Client(base_url=server.base_url, headers=headers) as api:
        for batch in range(5):
            body = {"interactions": [{"feature_id": f"d{batch}_{i}", "interaction_type": ["impression"],
                                      "position": i % 10, "execution_id": f"x{batch}_{i // 10}"}
                                     for i in range(1000)]}  # fmt: skip
            api.post("/v1/retrievers/interactions/batch", json=body).raise_for_status()
    store = store_of(server)
    victims = [r.data["interaction_id"] for r in list(store._records.values())[::7]]
    deleted: list[str] = []
    stop = threading.Event()

    def churn() -> None:
        with httpx.Client(base_url=server.base_url, headers=headers) as api:
            for i, victim in enumerate(victims):
                if stop.is_set():
                    break
                api.post("/v1/retrievers/interactions/batch", json={"interactions": [
                    {"feature_id": f"new_{i}", "interaction_type": ["click"], "position": 1}]})  # fmt: skip
                api.delete(f"/v1/retrievers/interactions/{victim}").raise_for_status()
                deleted.append(victim)

    path = location
    thread = threading.Thread(target=churn)
    thread.start()
    try:
        with make_client(server) as client:
            during = load_day(client, path, today, "run-during", page_size=PAGE_SIZE)
    finally:
        stop.set()
        thread.join()
    with make_client(server) as client:
        rerun = load_day(client, path, today, "run-lookback", page_size=PAGE_SIZE)
    con = warehouse.connect(path, read_only=True)
    landed = [row[0] for row in con.execute("SELECT interaction_id FROM raw.interactions").fetchall()]
    con.close()
    final = {r.data["interaction_id"] for r in store._records.values()}
    assert sorted(landed) == sorted(final)  # exactly the server's final state: none lost, none doubled
    assert deleted and not set(landed) & set(deleted)  # what was erased while paging is gone after the re-run
    record_figures("records inserted and deleted while paging", [during, rerun], path,
                   rows_after_rerun=len(landed))  # fmt: skip


KILLED_LOAD = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pydantic import SecretStr
    from interactions_etl.landing import load_day
    from interactions_etl.mixpeek.client import MixpeekClient
    from interactions_etl.mixpeek.settings import MixpeekSettings
    from tests.services import location_from_arg

    settings = MixpeekSettings(base_url=sys.argv[1], api_key=SecretStr(sys.argv[2]), namespace=sys.argv[3])
    with MixpeekClient(settings, requests_per_second=1000.0) as client:
        load_day(client, location_from_arg(sys.argv[4]), date.fromisoformat(sys.argv[5]), "run-killed",
                 page_size=50, sub_windows=1)
    """
)


def test_a_load_killed_mid_partition_then_rerun(servers, clean, location: warehouse.Location) -> None:
    path = location
    server = servers()
    run_pipeline(server, path)
    # A slow API, so the load of the first day is surely in the middle of its pages when it is killed.
    server.emulator.faults.configure(FaultConfig(latency_ms=40, scope="list"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_LOAD,
            server.base_url,
            API_KEY,
            NAMESPACE,
            location_arg(path),
            DAYS[0].isoformat(),
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )

    # Kill it once it has received 10 pages (500 records) of the day: mid-partition, inside its transaction.
    def served() -> int:
        return server.emulator.stats.records_served

    before, deadline = served(), time.monotonic() + 60
    while served() - before < 500 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert served() - before >= 500, "the load never got going"
    assert process.poll() is None, "the load finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    # The half-written partition never became visible: the day holds what the last committed load wrote.
    assert_same_warehouse(snapshot(path), clean)
    server.emulator.faults.configure(FaultConfig())
    reports = run_pipeline(server, path)
    assert_same_warehouse(snapshot(path), clean)
    record_figures(
        "process killed (SIGKILL) mid-partition, then re-run", reports, path, killed_after_seconds=2.5
    )


@pytest.mark.parametrize("backend", ["file", "ducklake"])
def test_a_disk_that_fills_up_fails_the_load_and_keeps_the_warehouse(
    servers, clean, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """The warehouse's storage fills up during a load: the DuckDB file's own disk, or the lake's data path
    (the catalog, in PostgreSQL, keeps room). The load fails and every table is as it was."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    server = servers()
    small = tmp_path / "small"
    small.mkdir()
    if backend == "file":
        normal: warehouse.Location = tmp_path / "w.duckdb"
        run_pipeline(server, normal)
        con = duckdb.connect(str(normal))
        con.execute("CHECKPOINT")
        con.close()
        used_kib = normal.stat().st_size // 1024
    else:
        postgres = request.getfixturevalue("postgres_server")
        normal = postgres.lake(tmp_path / "lake-data")
        run_pipeline(server, normal)
        used_kib = sum(f.stat().st_size for f in (tmp_path / "lake-data").rglob("*") if f.is_file()) // 1024
    size_kib = used_kib + 512  # the warehouse fits; another day of records does not
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(small)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        if backend == "file":
            shutil.copy(normal, small / "w.duckdb")
            target: warehouse.Location = small / "w.duckdb"
        else:
            target = postgres.lake(small / "data")
            run_pipeline(server, target)
        before = snapshot(target)
        big_day = START + timedelta(days=5)
        prefill(server.emulator, NAMESPACE, seed=22, start=big_day, days=1, per_day=40_000)  # same namespace
        with make_client(server) as api, pytest.raises(Exception) as failure:
            load_day(api, target, big_day, "run-full-disk", page_size=1000)
        message = str(failure.value).lower()
        assert "space" in message or "disk" in message or "write" in message, failure.value
        assert snapshot(target) == before  # the failed day left nothing behind
        FIGURES[f"a write that fails for lack of disk ({backend})"] = {
            "tmpfs_kib": size_kib, "error": str(failure.value).splitlines()[0][:160], "tables_unchanged": True
        }  # fmt: skip
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_new_fields_new_types_and_missing_optional_fields(
    servers, clean, location: warehouse.Location
) -> None:
    server = servers(prefilled=False)
    store = store_of(server)
    changed = []
    for data in _records_of_clean_server():
        data = dict(data)
        data["experiment_arm"] = "B"  # a field a newer API sends
        for optional in ("document_score", "feature_uri", "warning"):
            data.pop(optional, None)  # fields an older or leaner API leaves out
        changed.append(data)
    extra_type = dict(changed[0], interaction_id="int_new_type_0001", interaction_type=["hover"])
    store.bulk_insert([*changed, extra_type])
    path = location
    reports = run_pipeline(server, path)
    got = snapshot(path)
    # Every metric is as in the clean run: the new type is kept in raw and staging, and counted, not guessed at.
    for table in (t for t in clean if t.startswith("marts.")):
        assert got[table] == clean[table], table
    con = warehouse.connect(path, read_only=True)
    kept = con.execute(
        "SELECT count(*) FILTER (WHERE extra->>'experiment_arm' = 'B'), count(*) FILTER (WHERE document_score IS NULL),"
        " count(*) FILTER (WHERE list_contains(interaction_type, 'hover')) FROM raw.interactions"
    ).fetchall()[0]
    con.close()
    in_days = 1 + sum(
        1 for r in changed if date.fromisoformat(r["timestamp"][:10]) in DAYS
    )  # the loaded days
    assert kept == (in_days, in_days, 1)
    assert sum(r.unknown_types.get("hover", 0) for r in reports) == 1
    record_figures("new fields, a new type, optional fields missing", reports, path)


def _records_of_clean_server() -> list[dict[str, Any]]:
    emulator = Emulator(EmulatorConfig(api_keys={API_KEY: None}, namespaces=[NAMESPACE]))
    prefill(emulator, NAMESPACE, seed=21, start=START, days=len(DAYS), per_day=PER_DAY)
    return [r.data for r in emulator.stores[NAMESPACE]._records.values()]


@pytest.fixture(scope="module", autouse=True)
def write_figures() -> Iterator[None]:
    yield
    target = os.environ.get("FAULT_MATRIX_FIGURES")
    if target:
        Path(target).write_text(json.dumps(FIGURES, indent=2, default=str))
