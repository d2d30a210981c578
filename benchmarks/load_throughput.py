"""Extraction into DuckDB: this project's loader against the ceiling the server allows.

For each day size (default 100k and 1M interactions in one UTC day):
1. start `mixpeek-emulator serve` in its own process, pre-filled with that day, no rate limit;
2. ceiling: a bare httpx loop that walks the same windows and cursors with the same concurrency and page size,
   and throws the pages away (it reads only `next_cursor` from the tail of each body);
3. this project: `load_day` (validation, quarantine, DuckDB transaction) into a fresh DuckDB file, in a child
   process so its peak memory (ru_maxrss) is its own;
4. dlt's `rest_api` source into DuckDB (when dlt is installed: `pip install "dlt[duckdb,parquet]"`, a benchmark
   dependency only), configured for the same endpoint, windows, page size and cursor, in its best configuration:
   one parallelized resource per sub-window, parquet loader files, parallel normalize and load workers.

    python3 dev.py run python benchmarks/load_throughput.py --sizes 100000 1000000

Prints a markdown table; docs/benchmarks.md keeps the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 10, 1)
NEXT_CURSOR = re.compile(rb'"next_cursor":"([^"]+)"')


TIER_RATES = {"unlimited": 1e6, "pro": 100.0, "free": 10.0}  # requests per second the server allows


def start_emulator(port: int, key: str, per_day: int, tier: str) -> subprocess.Popen[bytes]:
    from mixpeek_emulator.server import spawn

    arguments = ["--namespace", "bench", "--rate-limit", tier, "--days", "1", "--per-day", str(per_day),
                 "--start", DAY.isoformat(), "--log-level", "warning"]  # fmt: skip
    return spawn(arguments, port=port, api_key=key, timeout=1800, cwd=str(ROOT))


def ceiling(base_url: str, key: str, workers: int, page_size: int, rate: float) -> tuple[int, float, int]:
    """Walk every page of the day with `workers` sub-windows in parallel, paced at the server's allowed rate;
    keep nothing. Returns (records, seconds, pages)."""
    sys.path.insert(0, str(ROOT))
    from interactions_etl.landing import day_window
    from interactions_etl.mixpeek.client import RequestBudget
    from interactions_etl.mixpeek.paging import window_body

    budget = RequestBudget(rate, workers)

    parts = day_window(DAY).split(workers)
    totals = [0] * len(parts)
    pages = [0] * len(parts)
    headers = {"Authorization": f"Bearer {key}", "X-Namespace": "bench", "Content-Type": "application/json"}

    def walk(index: int) -> None:
        body = json.dumps(window_body(parts[index], None)).encode()
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
            cursor = None
            while True:
                params = {"limit": page_size} | ({"cursor": cursor} if cursor else {})
                with budget.slot():
                    response = client.post("/v1/retrievers/interactions/list", params=params, content=body)
                response.raise_for_status()
                content = response.content
                pages[index] += 1
                totals[index] += content.count(b'"interaction_id":"') // 2  # results and items both list each
                match = NEXT_CURSOR.search(content, max(0, len(content) - 2000))
                if not match:
                    return
                cursor = match.group(1).decode()

    started = time.perf_counter()
    threads = [threading.Thread(target=walk, args=(i,)) for i in range(len(parts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(totals), time.perf_counter() - started, sum(pages)


LOADER = """
import json, resource, sys, time
from datetime import date
from pydantic import SecretStr
from interactions_etl.landing import load_day
from interactions_etl.mixpeek.client import MixpeekClient
from interactions_etl.mixpeek.settings import MixpeekSettings
base_url, key, warehouse, workers, page_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rate = float(sys.argv[7])
settings = MixpeekSettings(base_url=base_url, api_key=SecretStr(key), namespace="bench")
with MixpeekClient(settings, requests_per_second=rate, max_in_flight=workers) as client:
    report = load_day(client, warehouse, date.fromisoformat(sys.argv[6]), "bench", page_size=page_size)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": report.rows, "seconds": report.seconds, "pages": report.pages, "peak_kib": peak,
                  "audit_seconds": report.audit_seconds}))
"""


def loader(base_url: str, key: str, workers: int, page_size: int, rate: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", LOADER, base_url, key, str(Path(tmp) / "w.duckdb"), str(workers), str(page_size), DAY.isoformat(), str(rate)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


DLT_LOADER = """
import json, os, resource, sys, time
from datetime import date
import dlt
from dlt.sources.rest_api import rest_api_source
from interactions_etl.landing import day_window
from interactions_etl.mixpeek.paging import window_body

base_url, key, folder, workers, page_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
parts = day_window(date.fromisoformat(sys.argv[6])).split(workers)
source = rest_api_source({
    "client": {"base_url": base_url, "auth": {"type": "bearer", "token": key}, "headers": {"X-Namespace": "bench"}},
    "resource_defaults": {
        "write_disposition": "append",
        "parallelized": True,
        "endpoint": {
            "method": "POST",
            "data_selector": "results",
            "paginator": {"type": "cursor", "cursor_path": "pagination.next_cursor", "cursor_param": "cursor"},
        },
    },
    "resources": [
        {"name": f"window_{i}", "table_name": "interactions",
         "endpoint": {"path": "v1/retrievers/interactions/list", "params": {"limit": page_size},
                      "json": window_body(part, None)}}
        for i, part in enumerate(parts)
    ],
})
pipeline = dlt.pipeline(pipeline_name="bench", destination=dlt.destinations.duckdb(os.path.join(folder, "w.duckdb")),
                        dataset_name="raw", pipelines_dir=os.path.join(folder, "pipelines"))
started = time.perf_counter()
pipeline.run(source, loader_file_format="parquet")
seconds = time.perf_counter() - started
import duckdb
con = duckdb.connect(os.path.join(folder, "w.duckdb"), read_only=True)
rows = con.execute("SELECT count(*) FROM raw.interactions").fetchall()[0][0]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": seconds, "peak_kib": peak}))
"""


def dlt_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("dlt") is not None


def dlt_loader(base_url: str, key: str, workers: int, page_size: int) -> dict:
    env = {**os.environ, "EXTRACT__WORKERS": str(workers), "NORMALIZE__WORKERS": "2", "LOAD__WORKERS": "2",
           "RUNTIME__LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", DLT_LOADER, base_url, key, tmp, str(workers), str(page_size), DAY.isoformat()],
            cwd=ROOT, capture_output=True, text=True, env=env,
        )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"dlt failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=5, help="requests in flight (the free tier's 5)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side; the best is kept")
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt even when it is installed")
    parser.add_argument("--tiers", nargs="+", default=["unlimited", "pro"], choices=sorted(TIER_RATES),
                        help="the emulator's rate limit; the bare loop and the loader are paced to it")  # fmt: skip
    args = parser.parse_args()

    rows = []
    for tier in args.tiers:
        rate = TIER_RATES[tier]
        for size in args.sizes:
            with socket_port() as port:
                key = "sk_bench_" + secrets.token_hex(8)
            process = start_emulator(port, key, size, tier)
            try:
                base_url = f"http://127.0.0.1:{port}"
                stored = httpx.get(base_url + "/_emulator/health").json()["namespaces"]["bench"]
                ceilings = [
                    ceiling(base_url, key, args.workers, args.page_size, rate) for _ in range(args.repeats)
                ]
                best_ceiling = min(ceilings, key=lambda r: r[1])
                runs = [
                    loader(base_url, key, args.workers, args.page_size, rate) for _ in range(args.repeats)
                ]
                best = min(runs, key=lambda r: r["seconds"])
                dlt_runs = (
                    [dlt_loader(base_url, key, args.workers, args.page_size) for _ in range(args.repeats)]
                    if dlt_installed() and not args.no_dlt
                    else []
                )
            finally:
                process.terminate()
                process.wait(timeout=60)
            ceiling_rps = best_ceiling[0] / best_ceiling[1]
            loader_rps = best["rows"] / best["seconds"]
            peak = max(r["peak_kib"] for r in runs)
            dlt_best = min(dlt_runs, key=lambda r: r["seconds"]) if dlt_runs else None
            dlt_rps = dlt_best["rows"] / dlt_best["seconds"] if dlt_best else None
            dlt_peak = max(r["peak_kib"] for r in dlt_runs) if dlt_runs else None
            if dlt_best and dlt_best["rows"] != best["rows"]:
                print(f"note: dlt landed {dlt_best['rows']:,} rows, this project {best['rows']:,}")
            audit_share = best["audit_seconds"] / (best["seconds"] - best["audit_seconds"])
            rows.append((tier, stored, ceiling_rps, loader_rps, peak, dlt_rps, dlt_peak, audit_share))

    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; {datetime.now(UTC):%Y-%m-%d}; workers {args.workers}, "
          f"page size {args.page_size}, best of {args.repeats}\n")  # fmt: skip
    print(
        "| server limit | day size | ceiling: bare httpx (rows/s) | this project (rows/s) | ratio | loader peak RSS (MiB) "
        "| audits before commit (% added) | dlt rest_api (rows/s) | this project / dlt | dlt peak RSS (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for tier, stored, ceiling_rps, loader_rps, peak, dlt_rps, dlt_peak, audit_share in rows:
        limit = "none" if tier == "unlimited" else f"{tier} ({TIER_RATES[tier]:g} req/s)"
        dlt_cells = (
            f"{dlt_rps:,.0f} | {loader_rps / dlt_rps:.1f}x | {dlt_peak / 1024:,.0f}"
            if dlt_rps
            else "- | - | -"
        )
        print(
            f"| {limit} | {stored:,} | {ceiling_rps:,.0f} | {loader_rps:,.0f} | {loader_rps / ceiling_rps:.2f} "
            f"| {peak / 1024:,.0f} | {audit_share:.1%} | {dlt_cells} |"
        )
    by_tier: dict[str, list[tuple]] = {}
    for row in rows:
        by_tier.setdefault(row[0], []).append(row)
    for tier, tier_rows in by_tier.items():
        if len(tier_rows) >= 2:
            small, large = tier_rows[0], tier_rows[-1]
            print(
                f"\npeak memory, {tier}: {large[1]:,} rows vs {small[1]:,} rows = {large[4] / small[4]:.2f}x"
            )


class socket_port:
    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return self._sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


if __name__ == "__main__":
    _ = resource, timedelta  # imported for readers running pieces interactively
    main()
