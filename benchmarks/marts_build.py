"""Building the staging layer and the marts: from scratch, and nightly.

For each history size (default 1M and 10M interactions, spread over 30 UTC days of generated traffic):
1. generate the records and land them straight into raw.interactions (`land_records`: the load itself is
   load_throughput.py's business);
2. build everything from scratch: `refresh_staging` + `refresh_marts` (the seven marts, the position-bias fit with
   its 100 bootstrap replicates over the 28-day window), timed per layer;
3. nightly: land one more day (with its ~1% of late records for the days before) and time the incremental
   refresh, which rebuilds only the changed days and refits the window.

    python3 dev.py run python benchmarks/marts_build.py --sizes 1000000 10000000

Prints a markdown table; docs/benchmarks.md keeps the figures and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from interactions_etl import warehouse
from interactions_etl.landing import land_records
from interactions_etl.marts import MartsReport, refresh_marts
from interactions_etl.staging import refresh_staging
from mixpeek_emulator.generator import TrafficConfig, generate_traffic

START = date(2026, 8, 1)
SEED = 11


def generate(days: int, per_day: int) -> tuple[Iterator[dict[str, Any]], list[dict[str, Any]]]:
    """The history (streamed) and the next day (held back for the nightly run), from one generated run of
    days + 1 days, so the new day continues the same world and ids never repeat."""
    held_back: list[dict[str, Any]] = []
    cutoff = (START + timedelta(days=days)).isoformat()

    def history() -> Iterator[dict[str, Any]]:
        config = TrafficConfig(seed=SEED, start=START, days=days + 1, per_day=per_day)
        for record in generate_traffic(config).records():
            if record["timestamp"][:10] < cutoff:
                yield record
            else:
                held_back.append(record)

    return history(), held_back


def refresh(path: Path, memory_limit: str) -> tuple[float, float, MartsReport]:
    con = warehouse.connect(path, memory_limit=memory_limit)
    try:
        started = time.perf_counter()
        refresh_staging(con)
        staged = time.perf_counter()
        report = refresh_marts(con)
        return staged - started, time.perf_counter() - staged, report
    finally:
        con.close()


def row(label: str, rows: int, staging: float, marts: float, report: MartsReport) -> str:
    fit = report.position_bias
    fit_seconds = fit.seconds if fit else 0.0
    return (
        f"| {label} | {rows:,} | {len(report.days)} | {staging:.1f} | {marts - fit_seconds:.1f} | "
        f"{fit_seconds:.1f} ({fit.slots if fit else 0:,} slots) | {staging + marts:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=30, help="days of history")
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit")
    parser.add_argument("--keep", type=Path, help="keep the warehouses in this directory")
    args = parser.parse_args()

    lines = []
    with tempfile.TemporaryDirectory(prefix="marts-bench-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            per_day = size // args.days
            path = folder / f"history_{size}.duckdb"
            path.unlink(missing_ok=True)
            started = time.perf_counter()
            history, next_day = generate(args.days, per_day)
            rows = land_records(path, history, "history")
            seconds = time.perf_counter() - started
            print(
                f"generated and landed {rows:,} interactions over {args.days} days in {seconds:.0f} s",
                flush=True,
            )
            staging, marts, report = refresh(path, args.memory_limit)
            lines.append(row(f"build from scratch, {args.days} days", rows, staging, marts, report))
            print(lines[-1], flush=True)
            added = land_records(path, next_day, "nightly")
            staging, marts, report = refresh(path, args.memory_limit)
            lines.append(row(f"nightly: day {args.days + 1} added", added, staging, marts, report))
            print(lines[-1], flush=True)
            size_gib = path.stat().st_size / 2**30
            lines.append(f"| (warehouse file after the nightly run: {size_gib:.2f} GiB) | | | | | | |")

    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, {platform.system()} {platform.release()}; {datetime.now(UTC):%Y-%m-%d}\n"
    )
    print(
        "| run | interactions | days rebuilt | staging s | daily marts s | position-bias fit + document_ctr s | total s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
