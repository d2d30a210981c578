"""A month's backfill at real volume, and how its peak memory grows (issue 32).

1. backfill: `mixpeek-emulator serve` pre-filled with --days days of --per-day interactions (default 28 x 150,000),
   then `interactions load --start .. --end ..` over them through the CLI with the default settings (no
   WAREHOUSE_MEMORY_LIMIT: half the visible memory), timed, with the peak RSS of the CLI's process tree (the sum
   over its processes, sampled every 0.2 s) and of its largest process (ru_maxrss);
2. growth (unless --no-growth): the same traffic landed straight into raw.interactions (`land_records`), then
   staging and the marts refreshed in a child process, its peak RSS per step (staging, daily marts, window fit):
   for the first 7, 14 and all days (the range), with the position-bias window at 7, 14 and 28 days, and at a
   third of the volume, each at the default limit and at 512MB (the limit of the issue's report).

    python3 dev.py run python benchmarks/backfill_memory.py                 # about an hour on 2 cores
    python3 dev.py run python benchmarks/backfill_memory.py --smoke         # a minute: 2 days of 2,000

Prints markdown tables; docs/benchmarks.md#memory keeps the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = date(2026, 9, 1)
SEED = 32
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and every process under it (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
    members, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in members]
        members.update(children)
        frontier.extend(children)
    total = 0
    for pid in members:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(port: int, key: str, days: int, per_day: int) -> subprocess.Popen[bytes]:
    from mixpeek_emulator.server import spawn

    arguments = ["--namespace", "bench", "--rate-limit", "unlimited", "--days", str(days), "--per-day",
                 str(per_day), "--start", START.isoformat(), "--seed", str(SEED), "--log-level", "warning"]  # fmt: skip
    return spawn(arguments, port=port, api_key=key, timeout=7200, cwd=str(ROOT))


def backfill(days: int, per_day: int) -> str:
    """The CLI's load over the emulator's days with the default settings: one markdown row."""
    port, key = free_port(), "sk_bench_" + secrets.token_hex(8)
    print(
        f"generating {days} days of {per_day:,} interactions in the emulator...", file=sys.stderr, flush=True
    )
    emulator = start_emulator(port, key, days, per_day)
    folder = Path(tempfile.mkdtemp(prefix="backfill-"))
    try:
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("MIXPEEK_", "DAGSTER_", "WAREHOUSE_"))
            },
            "MIXPEEK_BASE_URL": f"http://127.0.0.1:{port}",
            "MIXPEEK_API_KEY": key,
            "MIXPEEK_NAMESPACE": "bench",
            "MIXPEEK_REQUESTS_PER_SECOND": "1000",
            "DAGSTER_HOME": str(folder / "dagster_home"),
        }
        limit = subprocess.run([sys.executable, "-m", "interactions_etl.cli", "config"], env=env, check=True,
                               capture_output=True, text=True).stdout  # fmt: skip
        limit_line = next(line for line in limit.splitlines() if line.startswith("WAREHOUSE_MEMORY_LIMIT"))
        end = START + timedelta(days=days - 1)
        command = [sys.executable, "-m", "interactions_etl.cli", "load", "--start", START.isoformat(),
                   "--end", end.isoformat(), "--warehouse", str(folder / "w.duckdb")]  # fmt: skip
        print(f"loading through the CLI ({limit_line.split()[1]} limit)...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        cli = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak = [0]

        def sample() -> None:
            while cli.poll() is None:
                peak[0] = max(peak[0], tree_rss(cli.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = cli.communicate()
        seconds = time.perf_counter() - started
        sampler.join()
        largest = (
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        )  # the emulator is still running
        if cli.returncode != 0:
            raise SystemExit(f"the load failed ({cli.returncode}): {err.decode()[-2000:]}")
        size = (folder / "w.duckdb").stat().st_size
    finally:
        emulator.terminate()
        emulator.wait(timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
    return (
        f"| {days} days x {per_day:,} = {days * per_day:,} | {limit_line.split()[1]} (default) | {seconds:.0f} s "
        f"({seconds / 60:.1f} min) | {peak[0] / 2**20:,.0f} | {largest / 2**20:,.0f} | {size / 2**20:,.0f} |"
    )


REFRESH = """
import json, os, sys, threading, time
from interactions_etl import warehouse
from interactions_etl.memory import default_memory_limit
import interactions_etl.marts as marts
from interactions_etl.marts import MartsSettings, refresh_marts
from interactions_etl.staging import refresh_staging

path, limit, window = sys.argv[1], sys.argv[2] or default_memory_limit(), int(sys.argv[3])
page = os.sysconf("SC_PAGE_SIZE")
step, peaks, seconds = ["start"], {}, {}

def sample():
    while True:
        rss = int(open("/proc/self/statm").read().split()[1]) * page
        peaks[step[0]] = max(peaks.get(step[0], 0), rss)
        time.sleep(0.05)

threading.Thread(target=sample, daemon=True).start()
fit = marts.refresh_window_marts

def window_marts(con, settings):
    seconds["daily marts"] = time.perf_counter() - started
    step[0] = "fit"
    return fit(con, settings)

marts.refresh_window_marts = window_marts
con = warehouse.connect(path, memory_limit=limit)
time.sleep(0.2)
try:
    step[0], started = "staging", time.perf_counter()
    staged = refresh_staging(con)
    seconds["staging"] = time.perf_counter() - started
    step[0], started = "daily marts", time.perf_counter()
    built = refresh_marts(con, MartsSettings(window_days=window))
    seconds["fit"] = built.position_bias.seconds
    result = {"ok": True, "batches": [staged.batches, built.batches], "slots": built.position_bias.slots}
except Exception as exc:
    result = {"ok": False, "error": str(exc)[:200]}
finally:
    con.close()
time.sleep(0.1)
print(json.dumps({**result, "peaks": peaks, "seconds": seconds,
                  "limit": warehouse.connect(":memory:", memory_limit=limit).sql(
                      "SELECT current_setting('memory_limit')").fetchone()[0]}))
"""


def refresh(raw: Path, work: Path, limit: str | None, window: int, keep_days: int | None = None) -> dict:
    """Staging and the marts over a copy of `raw` (its first keep_days days), in a child process."""
    shutil.copy(raw, work)
    if keep_days is not None:
        import duckdb

        con = duckdb.connect(str(work))
        last = START + timedelta(days=keep_days - 1)
        con.execute("DELETE FROM raw.interactions WHERE partition_date > $last", {"last": last})
        con.execute("DELETE FROM raw.changed_event_dates WHERE event_date > $last", {"last": last})
        con.close()
    completed = subprocess.run([sys.executable, "-c", REFRESH, str(work), limit or "", str(window)],
                               capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    work.unlink(missing_ok=True)
    if completed.returncode != 0:
        raise SystemExit(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def growth_row(label: str, interactions: int, window: int, result: dict) -> str:
    peaks = {k: v / 2**20 for k, v in result["peaks"].items()}
    if not result["ok"]:
        return f"| {label} | {interactions:,} | {window} | {result['limit']} | out of memory | | | | |"
    secs = result["seconds"]
    return (
        f"| {label} | {interactions:,} | {window} | {result['limit']} | {result['batches'][0]} / "
        f"{result['batches'][1]} | {peaks.get('staging', 0):,.0f} ({secs['staging']:.0f} s) | "
        f"{peaks.get('daily marts', 0):,.0f} ({secs['daily marts']:.0f} s) | {peaks.get('fit', 0):,.0f} "
        f"({secs['fit']:.0f} s, {result['slots']:,} slots) | {peaks.get('start', 0):,.0f} |"
    )


def growth(days: int, per_day: int, limits: list[str | None]) -> list[str]:
    from interactions_etl.landing import land_records
    from mixpeek_emulator.generator import TrafficConfig, generate_traffic

    folder = Path(tempfile.mkdtemp(prefix="backfill-growth-"))
    rows = []
    try:
        raws = {}
        for volume in sorted({per_day, per_day // 3}, reverse=True):
            raw = raws[volume] = folder / f"raw-{volume}.duckdb"
            print(f"landing {days} days of {volume:,} interactions...", file=sys.stderr, flush=True)
            config = TrafficConfig(seed=SEED, start=START, days=days, per_day=volume)
            land_records(raw, generate_traffic(config).records(), "bench", memory_limit="4GB")
        cases = [(f"first {n} days", per_day, n, 28) for n in sorted({7, 14, days}) if n <= days]
        cases += [(f"{days} days", per_day, days, w) for w in (7, 14) if w < days]
        cases += [(f"{days} days", per_day // 3, days, 28)] if per_day // 3 != per_day else []
        for limit in limits:
            for label, volume, span, window in cases:
                print(f"refreshing: {label}, {volume:,} a day, window {window}, limit {limit}",
                      file=sys.stderr, flush=True)  # fmt: skip
                result = refresh(raws[volume], folder / "work.duckdb", limit, window, span)
                rows.append(growth_row(f"{label}, {volume:,} a day", span * volume, window, result))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--per-day", type=int, default=150_000)
    parser.add_argument("--no-backfill", action="store_true", help="skip the CLI backfill")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth table")
    parser.add_argument("--limits", nargs="+", default=["default", "512MB"],
                        help="memory limits of the growth table (`default`: the setting's default)")  # fmt: skip
    parser.add_argument(
        "--smoke", action="store_true", help="2 days of 2,000 through the CLI, no growth table"
    )
    args = parser.parse_args()
    if args.smoke:
        args.days, args.per_day, args.no_growth = 2, 2000, True
    sys.path.insert(0, str(ROOT))

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"Python {platform.python_version()}")  # fmt: skip
    if not args.no_backfill:
        print("\n| backfill through the CLI | memory limit | wall time | peak RSS, process tree (MiB) | "
              "peak RSS, largest process (MiB) | warehouse file (MiB) |")  # fmt: skip
        print("|---|---|---:|---:|---:|---:|")
        print(backfill(args.days, args.per_day), flush=True)
    if not args.no_growth:
        rows = growth(args.days, args.per_day, [None if x == "default" else x for x in args.limits])
        print("\n| refresh of | interactions | window days | memory limit | batches (staging / marts) | "
              "peak RSS staging, MiB | daily marts | window fit | before (MiB) |")  # fmt: skip
        print("|---|---:|---:|---|---|---:|---:|---:|---:|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
