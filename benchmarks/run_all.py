"""Every benchmark in one command, on the same generated data, one table each (issue 7).

    python3 dev.py bench            # installs the peers (dlt), then the figures in docs/benchmarks.md (~2 hours)
    python3 dev.py bench --smoke    # a few minutes, peers left out: what CI runs

Runs, each in its own process: extraction into DuckDB (this project, dlt's rest_api source when installed, the
bare httpx ceiling); the marts built from scratch and nightly at 1M, 10M and 50M interactions; the nightly run
with 30 and with 365 days of history at the same daily volume; EM on counts against EM over slots; how often
the EM stops at its cap, per segment and minimum of impressions, under both stopping rules; a month's backfill
at 150,000 a day through the CLI with its peak memory, and how that grows (issue 32). Prints the
machine, the versions and the tables; with --write FILE, writes them there too, after each benchmark.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FULL = [
    ["load_throughput.py", "--sizes", "100000", "1000000", "--tiers", "pro", "unlimited", "--repeats", "2"],
    ["marts_build.py", "--sizes", "1000000", "10000000"],
    ["em_counts_vs_slots.py", "--per-day", "800000", "--days", "4"],
    # Non-converged EM fits per segment and minimum of impressions, both stopping rules (issue 31; ~15 minutes).
    ["em_convergence.py", "--seeds", "20"],
    # One tick of the nightly schedule under `dg dev`: three runs of 50,000 interactions a day, queued.
    ["nightly_tick.py", "--per-day", "50000"],
    # How the nightly run grows with history: 30,000 interactions a day, 30 days then 365 days behind it.
    ["marts_build.py", "--sizes", "900000", "--days", "30"],
    ["marts_build.py", "--sizes", "10950000", "--days", "365"],
    # Last: the longest (70 minutes on the documented host, two thirds of it generating the traffic).
    ["marts_build.py", "--sizes", "50000000", "--memory-limit", "12GB"],
    # The lake against the file: parallel backfills, the nightly commit as the lake grows, marts, publishing.
    ["lake.py"],
    # A month's backfill at 150,000 a day through the CLI with the defaults, and how peak memory grows (issue 32).
    ["backfill_memory.py"],
]
SMOKE = [
    ["load_throughput.py", "--sizes", "5000", "--tiers", "unlimited", "--repeats", "1", "--no-dlt"],
    ["marts_build.py", "--sizes", "30000", "--days", "3"],
    ["em_counts_vs_slots.py", "--per-day", "50000", "--days", "1", "--min-pair-impressions", "20"],
    [
        "em_convergence.py",
        "--seeds",
        "2",
        "--per-day",
        "5000",
        "--days",
        "2",
        "--min-pair-impressions",
        "20",
        "5",
    ],
    ["nightly_tick.py", "--per-day", "2000"],
    ["lake.py", "--smoke"],
    ["backfill_memory.py", "--smoke"],
]


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tables_of(output: str) -> str:
    """The markdown tables and the lines around them that a benchmark printed (its progress lines dropped)."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("Machine:")), None)
    if first is None:
        first = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
    return "\n".join(line for line in lines[first:] if not line.startswith("INFO")).strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="small sizes, a few minutes (CI)")
    parser.add_argument("--write", type=Path, help="also write the report to this markdown file")
    args = parser.parse_args()

    header = (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; duckdb {version('duckdb')}, numpy {version('numpy')}, "
        f"httpx {version('httpx')}, dlt {version('dlt')}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (" (smoke sizes)" if args.smoke else "")
    )
    sections = [f"# Benchmarks\n\n{header}"]

    def write() -> None:
        if args.write:
            args.write.write_text("\n\n".join(sections) + "\n")

    for command in SMOKE if args.smoke else FULL:
        started = time.perf_counter()
        print(f"running {' '.join(command)} ...", flush=True)
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / command[0]), *command[1:]], cwd=ROOT,
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"{command[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        seconds = time.perf_counter() - started
        sections.append(
            f"## {command[0]} ({' '.join(command[1:])}; {seconds:.0f} s)\n\n{tables_of(done.stdout)}"
        )
        write()  # a long run keeps what it measured so far
    print("\n" + "\n\n".join(sections))


if __name__ == "__main__":
    main()
