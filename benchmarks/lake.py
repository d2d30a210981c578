"""The DuckLake backend against the DuckDB file (issue 16; docs/scale.md).

1. A backfill of D days (default 30 x 30,000 interactions) through the API with 1, 2 and 4 loads in parallel
   processes, into a file and into a lake. The emulator runs unthrottled, so the API's rate limit is not the
   bound (on a file, parallel loads take turns on its lock).
2. The nightly commit (one staged day of the same size replaced in one transaction, as a load commits it) and a
   reader's attach (at the published snapshot, plus one count) at two lake sizes: the backfilled lake, and the
   same lake grown tenfold by copying its days forward.
3. Staging and the marts built from scratch on each backend, from the same records.
4. Publishing for analysts: copying the file (what the file backend does after each build) against recording
   a snapshot (the lake), at the size of step 3's warehouse.

    python3 dev.py run python benchmarks/lake.py              # ~15 minutes on 2 cores
    python3 dev.py run python benchmarks/lake.py --smoke      # CI's minute

Needs PostgreSQL's binaries (`python3 dev.py test` installs Debian's package): it starts its own cluster on a
free loopback port, as tests/services.py does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/services.py: the same PostgreSQL set-up as the tests

from interactions_etl import lake as lakes  # noqa: E402
from interactions_etl import warehouse  # noqa: E402
from interactions_etl.landing import land_records, load_day, replace_day_from_staged  # noqa: E402
from interactions_etl.marts import refresh_marts  # noqa: E402
from interactions_etl.mixpeek.client import MixpeekClient  # noqa: E402
from interactions_etl.mixpeek.settings import MixpeekSettings  # noqa: E402
from interactions_etl.staging import refresh_staging  # noqa: E402
from mixpeek_emulator.app import Emulator, EmulatorConfig  # noqa: E402
from mixpeek_emulator.generator import TrafficConfig, generate_traffic  # noqa: E402
from mixpeek_emulator.prefill import prefill  # noqa: E402
from mixpeek_emulator.server import EmulatorServer  # noqa: E402
from tests.services import PostgresServer, location_arg, location_from_arg, missing_postgres_reason  # noqa: E402

API_KEY = "sk_bench_lake"
NAMESPACE = "ns_bench_lake"
START = date(2026, 6, 1)


def load_one(base_url: str, location: str, day: str) -> tuple[int, int]:
    """One partition load in a worker process: (rows, commit conflicts retried)."""
    from pydantic import SecretStr

    settings = MixpeekSettings(base_url=base_url, api_key=SecretStr(API_KEY), namespace=NAMESPACE)
    with MixpeekClient(settings, requests_per_second=10_000.0, max_in_flight=8) as client:
        report = load_day(client, location_from_arg(location), date.fromisoformat(day), f"bench-{day}")
    return report.rows, report.commit_conflicts


def backfill(
    base_url: str, location: warehouse.Location, days: list[date], parallel: int
) -> tuple[float, int, int]:
    started = time.perf_counter()
    # spawn, not fork: this process runs the emulator's server thread.
    with ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(load_one, [base_url] * len(days), [location_arg(location)] * len(days),
                                [d.isoformat() for d in days]))  # fmt: skip
    return time.perf_counter() - started, sum(r[0] for r in results), sum(r[1] for r in results)


def new_lake(postgres: PostgresServer, folder: Path) -> lakes.Lake:
    lake = postgres.lake(folder / f"lake-{time.monotonic_ns()}")
    con = warehouse.connect(lake)
    warehouse.ensure_raw_tables(con)  # once, before the parallel loads
    con.close()
    return lake


def lake_bytes(lake: lakes.Lake) -> int:
    return sum(p.stat().st_size for p in Path(lake.data_path).rglob("*") if p.is_file())


def grow(lake: lakes.Lake, copies: int, days: int) -> None:
    """The lake's days copied forward `copies` times (new ids, later partitions): a longer history in seconds."""
    con = warehouse.connect(lake)
    try:
        with warehouse.transaction(con):
            for copy in range(1, copies):
                con.execute(
                    "INSERT INTO raw.interactions BY NAME SELECT * REPLACE ("
                    "interaction_id || '-c' || $copy AS interaction_id, "
                    "partition_date + CAST($shift AS INTEGER) AS partition_date, "
                    '"timestamp" + to_days(CAST($shift AS INTEGER)) AS "timestamp", '
                    "occurred_at + to_days(CAST($shift AS INTEGER)) AS occurred_at) "
                    "FROM raw.interactions WHERE partition_date < $end",
                    {"copy": copy, "shift": copy * days, "end": START + timedelta(days=days)},
                )
    finally:
        con.close()


def nightly_commit(lake: lakes.Lake, day: date, scratch: Path, repeats: int) -> tuple[float, float]:
    """Median seconds of (a) replacing one day from a staged local file in one lake transaction, as a load
    commits it; (b) a reader attaching at the published snapshot and counting the day."""
    staged = scratch / f"staged-{time.monotonic_ns()}.duckdb"
    con = warehouse.connect(lake)
    warehouse.attach(con, staged, "staged", read_only=False)
    con.execute("CREATE SCHEMA staged.raw")
    con.execute("CREATE TABLE staged.raw.interactions AS SELECT * FROM raw.interactions WHERE partition_date = ?",
                [day])  # fmt: skip
    con.execute(
        "CREATE TABLE staged.raw.rejected_interactions AS SELECT * FROM raw.rejected_interactions LIMIT 0"
    )
    con.execute("DETACH staged")
    params = {"partition_date": day, "run_id": "bench-nightly"}
    commits, attaches = [], []
    for _ in range(repeats):
        warehouse.attach(con, staged, "staged", read_only=True)
        started = time.perf_counter()
        with warehouse.transaction(con):
            loaded = {**params, "loaded_at": datetime.now(UTC)}
            replace_day_from_staged(con, day, loaded)  # a load's commit, its audits aside
            warehouse.run(con, "raw/log_changed_event_dates", **loaded)
        commits.append(time.perf_counter() - started)
        con.execute("DETACH staged")
        published = lakes.publish_snapshot(con, "bench")
        started = time.perf_counter()
        reader = warehouse.connect(lake, snapshot=published)
        reader.execute("SELECT count(*) FROM raw.interactions WHERE partition_date = ?", [day]).fetchone()
        attaches.append(time.perf_counter() - started)
        reader.close()
    con.close()
    return statistics.median(commits), statistics.median(attaches)


def build_marts(location: warehouse.Location) -> tuple[float, float]:
    con = warehouse.connect(location, memory_limit="8GB")
    try:
        started = time.perf_counter()
        refresh_staging(con)
        staged = time.perf_counter()
        refresh_marts(con)
        return staged - started, time.perf_counter() - staged
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=30_000)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--marts-size", type=int, default=1_000_000, help="interactions for step 3")
    parser.add_argument(
        "--grow", type=int, default=10, help="the larger lake of step 2: this many times the backfill"
    )
    args = parser.parse_args()
    if args.smoke:
        args.days, args.per_day, args.parallel, args.marts_size, args.grow = 3, 2000, [1, 2], 20_000, 3
    reason = missing_postgres_reason()
    if reason:
        sys.exit(f"benchmarks/lake.py needs PostgreSQL: {reason}")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; duckdb {duckdb.__version__}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    scratch = Path(tempfile.mkdtemp(prefix="interactions-bench-lake-"))
    postgres = PostgresServer.start(Path(tempfile.mkdtemp(prefix="interactions-bench-postgres-")))
    try:
        emulator = Emulator(EmulatorConfig(api_keys={API_KEY: None}, namespaces=[NAMESPACE]))
        prefill(emulator, NAMESPACE, seed=17, start=START, days=args.days, per_day=args.per_day)
        days = [START + timedelta(days=i) for i in range(args.days)]
        print(
            f"\n## 1. A backfill of {args.days} days through the API ({args.per_day:,} a day, unthrottled)\n"
        )
        print("| backend | loads in parallel | seconds | rows/s | speed-up vs 1 | commit conflicts retried |")
        print("|---|---:|---:|---:|---:|---:|")
        backfilled: lakes.Lake | None = None
        with EmulatorServer(emulator) as server:
            for backend in ("file", "ducklake"):
                first = None
                for parallel in args.parallel:
                    if backend == "file":
                        target: warehouse.Location = scratch / f"backfill-{parallel}.duckdb"
                    else:
                        target = new_lake(postgres, scratch)
                    seconds, rows, conflicts = backfill(server.base_url, target, days, parallel)
                    first = first or seconds
                    print(f"| {backend} | {parallel} | {seconds:.1f} | {rows / seconds:,.0f} | {first / seconds:.2f}x |"
                          f" {conflicts} |", flush=True)  # fmt: skip
                    if backend == "ducklake":
                        backfilled = target  # type: ignore[assignment]
        assert backfilled is not None
        print("\n## 2. The nightly commit and a reader's attach as the lake grows\n")
        print(
            "| lake | interactions | data files (MiB) | nightly commit s (median of 5) | reader attach + count s |"
        )
        print("|---|---:|---:|---:|---:|")
        for label, copies in ((f"{args.days} days", 1), (f"{args.days * args.grow} days", args.grow)):
            if copies > 1:
                grow(backfilled, copies, args.days)
            con = warehouse.connect(backfilled, read_only=True)
            total = con.execute("SELECT count(*) FROM raw.interactions").fetchone()[0]
            con.close()
            commit, attach = nightly_commit(backfilled, days[-1], scratch, repeats=5)
            print(f"| {label} | {total:,} | {lake_bytes(backfilled) / 2**20:,.0f} | {commit:.3f} | {attach:.3f} |",
                  flush=True)  # fmt: skip
        print(f"\n## 3. Staging and the marts from scratch, {args.marts_size:,} interactions over 30 days\n")
        print("| backend | staging s | marts (and the fit) s | total s |")
        print("|---|---:|---:|---:|")
        per_day = args.marts_size // 30
        records = list(
            generate_traffic(TrafficConfig(seed=11, start=START, days=30, per_day=per_day)).records()
        )
        file_path = scratch / "marts-build.duckdb"
        marts_lake = new_lake(postgres, scratch)
        for backend, location in (("file", file_path), ("ducklake", marts_lake)):
            land_records(location, records, "bench-marts")
            staging, marts = build_marts(location)
            print(f"| {backend} | {staging:.1f} | {marts:.1f} | {staging + marts:.1f} |", flush=True)
        print("\n## 4. Publishing a build for analysts\n")
        print("| backend | warehouse | publish s (median of 3) | what readers then open |")
        print("|---|---:|---:|---|")
        copies = []
        for _ in range(3):
            started = time.perf_counter()
            warehouse.publish(file_path, scratch / "marts-build.published.duckdb")
            copies.append(time.perf_counter() - started)
        size = file_path.stat().st_size / 2**30
        print(
            f"| file: checkpoint, copy, rename | {size:.2f} GiB | {statistics.median(copies):.2f} | a copy of the file |"
        )
        snapshots = []
        con = warehouse.connect(marts_lake)
        for _ in range(3):
            started = time.perf_counter()
            lakes.publish_snapshot(con, "bench")
            snapshots.append(time.perf_counter() - started)
        con.close()
        print(f"| ducklake: record the snapshot | {lake_bytes(marts_lake) / 2**30:.2f} GiB | "
              f"{statistics.median(snapshots):.3f} | the lake at that snapshot |")  # fmt: skip
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
