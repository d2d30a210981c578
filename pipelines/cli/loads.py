"""`interactions load` and `interactions demo`: the nightly's job for a range of days, in this process."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from interactions_etl.cli.app import (
    app,
    check_writable,
    die,
    settings_of_environment,
    settings_with_warehouse,
    verbose,
    warehouse_of_settings,
)

if TYPE_CHECKING:
    from interactions_etl.backends import FileWarehouse
    from interactions_etl.settings import Settings


def _days(start: date, end: date) -> list[date]:
    if end < start:
        die(f"--end {end} is before --start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def run_loads(days: list[date], settings: Settings) -> None:
    """Run the nightly's job for `days` and say what came of it; a failure exits with its one line."""
    from interactions_etl.instance import InstanceLockTimeout
    from interactions_etl.runs import run_interactions_job

    try:
        outcome = run_interactions_job(days, settings, say=typer.echo)
    except InstanceLockTimeout as exc:
        die(str(exc))
    if verbose():
        for error in outcome.errors:
            typer.echo(f"Traceback of {error.step}, as Dagster recorded it:\n{error.traceback}", err=True)
    if outcome.failed_checks:
        typer.echo(f"checks that did not pass: {', '.join(outcome.failed_checks)}")
    if not outcome.success:
        die(outcome.failure())
    typer.echo(
        f"run {outcome.run.run_id} succeeded: {len(days)} days loaded, staging, marts, report and copy refreshed"
    )


@app.command()
def load(
    start: Annotated[str, typer.Option(help="First UTC day to load (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Last UTC day to load, inclusive (YYYY-MM-DD).")],
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB file (default $WAREHOUSE_PATH or ./warehouse.duckdb).")
    ] = None,
) -> None:
    """Run the nightly's Dagster job in this process for --start..--end: the loads, then everything downstream."""
    settings = settings_with_warehouse(warehouse)
    try:
        days = _days(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as exc:
        die(str(exc))
    _check_loadable(days, settings)
    check_writable(warehouse_of_settings(settings))
    run_loads(days, settings)


def _check_loadable(days: list[date], settings: Settings) -> None:
    """Refuse, in one line, what would otherwise fail inside Dagster with a traceback."""
    from interactions_etl.assets.raw import daily_partitions

    for name in ("mixpeek_api_key", "mixpeek_namespace"):
        if getattr(settings, name) is None:
            die(f"{name.upper()} is not set: export it (see .env.example), or try `interactions demo`")
    today = datetime.now(UTC).date()
    newest = today - timedelta(days=1)
    if days[-1] > newest:
        when = "is today" if days[-1] == today else "is in the future"
        die(f"{days[-1]} {when}; the newest complete day is {newest}")
    first = daily_partitions(settings.interactions_start_date).start.date()
    if days[0] < first:
        die(f"{days[0]} is before the first partition, {first} (INTERACTIONS_START_DATE)")


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Days of synthetic traffic.")] = 7,
    per_day: Annotated[int, typer.Option(help="Interactions per day.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic traffic.")] = 7,
    warehouse: Annotated[Path, typer.Option(help="DuckDB file to build.")] = Path("warehouse.duckdb"),
) -> None:
    """Start the emulator with synthetic traffic on a free loopback port, load it, build everything downstream."""
    import secrets

    from pydantic import SecretStr

    try:  # the emulator's web stack is an extra: the product's install needs none of it
        from mixpeek_emulator.app import Emulator, EmulatorConfig
        from mixpeek_emulator.cli import default_start
        from mixpeek_emulator.prefill import prefill
        from mixpeek_emulator.ratelimit import RateLimit
        from mixpeek_emulator.server import EmulatorServer
    except ImportError as exc:
        die(
            f"the demo runs the Mixpeek emulator, which is not installed ({exc.name} is missing): "
            "pip install 'interactions-etl[emulator]' (python3 dev.py demo does)"
        )

    from interactions_etl.backends import FileWarehouse

    # The demo is the quick start: always the embedded file, whatever WAREHOUSE_BACKEND says.
    warehouse = warehouse.resolve()
    demo_warehouse = FileWarehouse(
        path=warehouse, published_path=settings_of_environment().published_warehouse_path
    )
    check_writable(demo_warehouse)
    key = "sk_demo_" + secrets.token_hex(16)  # lives in this process only; never printed
    namespace = "demo"
    first_day = default_start(days)
    emulator_state = Emulator(
        EmulatorConfig(api_keys={key: None}, namespaces=[namespace], rate_limit=RateLimit.tier("pro"))
    )
    typer.echo(f"generating {days} days x {per_day:,} interactions of synthetic traffic (seed {seed}) ...")
    prefill(emulator_state, namespace, seed=seed, start=first_day, days=days, per_day=per_day, progress=True)
    with EmulatorServer(emulator_state) as server:
        typer.echo(f"emulator of the Mixpeek API listening on {server.base_url}")
        settings = settings_of_environment().model_copy(
            update={
                "mixpeek_base_url": server.base_url,
                "mixpeek_api_key": SecretStr(key),
                "mixpeek_namespace": namespace,
                "mixpeek_retriever_id": None,
                "mixpeek_requests_per_second": 100.0,  # the emulator runs the pro tier
                "mixpeek_max_in_flight": 50,
                "warehouse_path": warehouse,
                "warehouse_backend": "file",
            }
        )
        run_loads(_days(first_day, first_day + timedelta(days=days - 1)), settings)
    _where_to_look(demo_warehouse, settings)


FIRST_QUERY = (
    "SELECT partition_date, count(*) AS interactions, count(DISTINCT execution_id) AS searches "
    "FROM raw.interactions GROUP BY ALL ORDER BY 1"
)


def _where_to_look(demo_warehouse: FileWarehouse, settings: Settings) -> None:
    """The demo's last words: the analysts' copy with a first query's answer, the report, Dagster's record."""
    from interactions_etl import warehouse as warehouse_db

    # Analysts open the published copy: a session on the loader's own file would block the next load.
    published = demo_warehouse.published_copy
    con = warehouse_db.connect(published, read_only=True)
    try:
        answer = str(con.sql(FIRST_QUERY))
    finally:
        con.close()
    typer.echo(
        f"\nwarehouse (the loads write it): {demo_warehouse.path}\nanalysts' copy (open this one): {published}\n\n"
        f'first query to try:\n  duckdb -readonly {published} "{FIRST_QUERY}"\n{answer}'
    )
    typer.echo(
        "no duckdb CLI? python3 dev.py run python -c "
        f"\"import duckdb; duckdb.connect('{published}', read_only=True).sql('SELECT 42').show()\""
    )
    latest = settings.reports_dir / "latest.html"
    if latest.exists():
        typer.echo(f"\nposition-bias report (open it in a browser): {latest.resolve()}")
    typer.echo(
        f"Dagster's record of the run (materializations, checks, column schemas): python3 dev.py dagster, "
        f"then http://127.0.0.1:3000 (instance: {settings.dagster_home.resolve()})"
    )
