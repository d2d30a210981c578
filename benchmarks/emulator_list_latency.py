"""List-page latency of the emulator at a million stored interactions.

Starts `mixpeek-emulator serve` in its own process (so the client does not share its GIL), pre-filled with
synthetic traffic, then times list pages over real HTTP on loopback:
- cursor pages (sorted by timestamp ascending, the loader's order): the first, the middle and the last page;
- offset pages: offset 0 and offset 10000 (the API's maximum), default order (newest first);
- a one-day window filter (what the loader asks for), first page.

    python3 dev.py run python benchmarks/emulator_list_latency.py --records 1000000 --limit 1000

Prints a markdown table; docs/emulator.md keeps the figures with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta

import httpx

DAYS = 7


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the emulator exited with {process.returncode}")
        try:
            if httpx.get(base_url + "/_emulator/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the emulator did not come up in time")


def timed(client: httpx.Client, repeats: int, **kwargs: object) -> tuple[float, dict]:
    """Median wall time (ms) of `repeats` identical requests, and the last answer."""
    samples = []
    payload: dict = {}
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.post("/v1/retrievers/interactions/list", **kwargs)  # type: ignore[arg-type]
        response.raise_for_status()
        payload = response.json()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), payload


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="interactions stored (about)")
    parser.add_argument("--limit", type=int, default=1000, help="page size")
    parser.add_argument("--repeats", type=int, default=5, help="timed requests per measured page")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    args = parser.parse_args()

    port = args.port or _free_port()
    key = "sk_bench_" + secrets.token_hex(8)
    base_url = f"http://127.0.0.1:{port}"
    start = date(2026, 10, 1)
    command = [
        sys.executable,
        "-m",
        "mixpeek_emulator",
        "serve",
        "--port",
        str(port),
        "--namespace",
        "bench",
        "--rate-limit",
        "unlimited",
        "--days",
        str(DAYS),
        "--per-day",
        str(args.records // DAYS),
        "--start",
        start.isoformat(),
        "--log-level",
        "warning",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, "MIXPEEK_EMULATOR_API_KEYS": key})
    try:
        wait_until_up(base_url, process, timeout=1800)
        prefill_s = time.perf_counter() - started
        headers = {"Authorization": f"Bearer {key}", "X-Namespace": "bench"}
        rows: list[tuple[str, float, int]] = []
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
            stored = client.get("/_emulator/health").json()["namespaces"]["bench"]
            asc = {"sort": {"field": "timestamp", "direction": "asc"}}
            # Walk every cursor page once (untimed beyond the walk itself), keeping the tokens.
            tokens: list[str | None] = [None]
            walk_started = time.perf_counter()
            while True:
                params = {"limit": args.limit} | ({"cursor": tokens[-1]} if tokens[-1] else {})
                page = client.post("/v1/retrievers/interactions/list", params=params, json=asc).json()
                token = page["pagination"]["next_cursor"]
                if not token:
                    break
                tokens.append(token)
            walk_s = time.perf_counter() - walk_started
            for label, index in (
                ("cursor: first page", 0),
                ("cursor: middle page", len(tokens) // 2),
                ("cursor: last full page", len(tokens) - 2),
                ("cursor: last page", len(tokens) - 1),
            ):
                params = {"limit": args.limit} | ({"cursor": tokens[index]} if tokens[index] else {})
                ms, payload = timed(client, args.repeats, params=params, json=asc)
                rows.append((f"{label} (#{index + 1} of {len(tokens)})", ms, len(payload["results"])))
            for offset in (0, 10_000):
                ms, payload = timed(client, args.repeats, params={"limit": args.limit, "offset": offset})
                rows.append((f"offset {offset}, newest first", ms, len(payload["results"])))
            day = start + timedelta(days=DAYS // 2)
            window = {
                "filters": {
                    "timestamp": {"gte": f"{day}T00:00:00Z", "lt": f"{day + timedelta(days=1)}T00:00:00Z"}
                },
                **asc,
            }
            ms, payload = timed(
                client, args.repeats, params={"limit": args.limit, "include_total": "true"}, json=window
            )
            rows.append(
                (
                    f"one-day window + include_total ({payload['pagination']['total']} in window)",
                    ms,
                    len(payload["results"]),
                )
            )
    finally:
        process.terminate()
        process.wait(timeout=30)

    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"Stored interactions: {stored:,}; pre-fill + start-up {prefill_s:.0f} s; "
        f"full cursor walk of {len(tokens)} pages of {args.limit}: {walk_s:.1f} s "
        f"({stored / walk_s:,.0f} records/s)\n"
    )
    print(f"| page (limit {args.limit}) | median latency (ms) | records |")
    print("|---|---:|---:|")
    for label, ms, count in rows:
        print(f"| {label} | {ms:.1f} | {count} |")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
