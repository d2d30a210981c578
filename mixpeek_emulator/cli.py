"""The `mixpeek-emulator` command: serve the emulated Mixpeek interactions API, or write synthetic traffic.

The emulator's own command, free of the pipeline: it reads its few variables straight from the environment
(MIXPEEK_EMULATOR_API_KEYS, else MIXPEEK_API_KEY; MIXPEEK_NAMESPACE), never the pipeline's settings.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer

app = typer.Typer(
    name="mixpeek-emulator",
    help="A local Mixpeek interactions API (0.82) with seeded synthetic search traffic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """The console script."""
    app()


def _die(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def parse_api_keys(values: list[str], configured: str = "") -> dict[str, frozenset[str] | None]:
    """`KEY` may use every namespace; `KEY=ns_a,ns_b` only those. Keys come from flags, else `configured`
    (MIXPEEK_EMULATOR_API_KEYS, else MIXPEEK_API_KEY)."""
    if not values:
        values = (
            [v for v in (part.strip() for part in configured.split(",")) if v]
            if "=" not in configured
            else [configured]
        )
    keys: dict[str, frozenset[str] | None] = {}
    for value in values:
        key, sep, namespaces = value.partition("=")
        if not key:
            _die("an empty API key was given")
        keys[key] = frozenset(n.strip() for n in namespaces.split(",") if n.strip()) if sep else None
    return keys


def default_start(days: int) -> date:
    """The first of the last `days` whole UTC days, ending yesterday: traffic that is already complete."""
    return datetime.now(UTC).date() - timedelta(days=days)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="Accepted bearer key; repeat for more; KEY=ns1,ns2 limits it to those namespaces. "
            "Default: $MIXPEEK_EMULATOR_API_KEYS (comma-separated), else $MIXPEEK_API_KEY.",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option(help="Namespace to create (repeatable). Default: $MIXPEEK_NAMESPACE, else 'demo'."),
    ] = None,
    auto_create_namespaces: Annotated[
        bool, typer.Option(help="Create a namespace on first use instead of answering 404.")
    ] = False,
    rate_limit: Annotated[
        str, typer.Option(help="free (10 req/s, 5 concurrent), pro (100, 50) or unlimited.")
    ] = "free",
    requests_per_second: Annotated[
        float | None, typer.Option(help="Override the tier's request rate.")
    ] = None,
    max_concurrent: Annotated[int | None, typer.Option(help="Override the tier's concurrency cap.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic traffic.")] = 7,
    days: Annotated[
        int, typer.Option(help="Pre-fill this many days of synthetic traffic (0 = start empty).")
    ] = 0,
    per_day: Annotated[int, typer.Option(help="Interactions per pre-filled day.")] = 50_000,
    start: Annotated[
        str | None, typer.Option(help="First pre-filled UTC day (YYYY-MM-DD). Default: ends yesterday.")
    ] = None,
    ground_truth: Annotated[
        Path | None, typer.Option(help="Write the pre-fill's ground truth JSON here.")
    ] = None,
    publish: Annotated[
        list[str] | None,
        typer.Option(help="Publish a retriever for the public track routes: NAME=NAMESPACE/RETRIEVER_ID."),
    ] = None,
    error_rate: Annotated[float, typer.Option(help="Fault: share of requests answered 500/503.")] = 0.0,
    throttle_rate: Annotated[float, typer.Option(help="Fault: share of requests answered 429.")] = 0.0,
    latency_ms: Annotated[float, typer.Option(help="Fault: latency added to every request.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Fault: share of list pages cut mid-body.")] = 0.0,
    truncate_rate: Annotated[
        float, typer.Option(help="Fault: share of list pages with truncated JSON.")
    ] = 0.0,
    malformed_rate: Annotated[
        float, typer.Option(help="Fault: share of list pages with one malformed record.")
    ] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault draws.")] = 0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve a local Mixpeek interactions API (0.82), optionally pre-filled with synthetic traffic."""
    from mixpeek_emulator.app import Emulator, EmulatorConfig, PublicRetriever
    from mixpeek_emulator.faults import FaultConfig
    from mixpeek_emulator.ratelimit import RateLimit
    from mixpeek_emulator.server import serve

    configured = os.environ.get("MIXPEEK_EMULATOR_API_KEYS") or os.environ.get("MIXPEEK_API_KEY") or ""
    keys = parse_api_keys(api_key or [], configured.strip())
    if not keys:
        _die("no API key: pass --api-key or set MIXPEEK_EMULATOR_API_KEYS / MIXPEEK_API_KEY")
    namespaces = namespace or [os.environ.get("MIXPEEK_NAMESPACE", "").strip() or "demo"]
    if rate_limit not in ("free", "pro", "unlimited"):
        _die("--rate-limit is free, pro or unlimited")
    limit = RateLimit.tier(rate_limit)
    if requests_per_second is not None or max_concurrent is not None:
        base = limit or RateLimit(1e9, 1_000_000)
        limit = RateLimit(
            requests_per_second or base.requests_per_second, max_concurrent or base.max_concurrent
        )
    public: dict[str, PublicRetriever] = {}
    for spec in publish or []:
        name, _, target = spec.partition("=")
        ns, _, retriever_id = target.partition("/")
        if not (name and ns and retriever_id):
            _die(f"--publish {spec!r}: expected NAME=NAMESPACE/RETRIEVER_ID")
        public[name] = PublicRetriever(namespace=ns, retriever_id=retriever_id)
    faults = FaultConfig(
        error_rate=error_rate,
        throttle_rate=throttle_rate,
        latency_ms=latency_ms,
        drop_rate=drop_rate,
        truncate_rate=truncate_rate,
        malformed_rate=malformed_rate,
        seed=fault_seed,
    )
    try:
        faults.validate()
    except ValueError as exc:
        _die(str(exc))
    emu = Emulator(
        EmulatorConfig(
            api_keys=keys,
            namespaces=namespaces,
            auto_create_namespaces=auto_create_namespaces,
            rate_limit=limit,
            faults=faults,
            public_retrievers=public,
        )
    )
    if days > 0:
        from mixpeek_emulator.prefill import prefill

        first_day = date.fromisoformat(start) if start else default_start(days)
        truth = prefill(
            emu, namespaces[0], seed=seed, start=first_day, days=days, per_day=per_day, progress=True
        )
        if ground_truth is not None:
            from mixpeek_emulator.generator import write_ground_truth

            write_ground_truth(truth, ground_truth)
    typer.echo(
        f"Mixpeek interactions emulator (API 0.82) on http://{host}:{port}  namespaces: {', '.join(namespaces)}  "
        f"rate limit: {rate_limit if limit is None or (requests_per_second is None and max_concurrent is None) else limit}",
        err=True,
    )
    serve(emu, host, port, log_level=log_level)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Write records as JSON lines here ('-' for stdout).")] = Path("-"),
    truth: Annotated[Path | None, typer.Option(help="Write the ground truth JSON here.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same traffic.")] = 7,
    days: Annotated[int, typer.Option(help="Number of UTC days.")] = 7,
    per_day: Annotated[int, typer.Option(help="Interactions per day (approximate).")] = 50_000,
    start: Annotated[
        str | None, typer.Option(help="First UTC day (YYYY-MM-DD). Default: ends yesterday.")
    ] = None,
) -> None:
    """Generate seeded synthetic search traffic with known ground truth."""
    from mixpeek_emulator.generator import TrafficConfig, generate_traffic, write_ground_truth

    config = TrafficConfig(
        seed=seed,
        start=date.fromisoformat(start) if start else default_start(days),
        days=days,
        per_day=per_day,
    )
    traffic = generate_traffic(config)
    sink = sys.stdout.buffer if str(out) == "-" else out.open("wb")
    count = 0
    try:
        for record in traffic.records():
            sink.write(orjson.dumps(record) + b"\n")
            count += 1
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
    if truth is not None:
        write_ground_truth(traffic.ground_truth(), truth)
    typer.echo(f"wrote {count} interactions" + (f" to {out}" if str(out) != "-" else ""), err=True)


if __name__ == "__main__":
    main()
