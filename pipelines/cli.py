"""The `interactions` command."""

from __future__ import annotations

import re
import sys
import traceback
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from interactions_etl.backends import Warehouse
    from interactions_etl.settings import Settings

app = typer.Typer(
    name="interactions",
    help="Mixpeek search interactions into DuckDB: loads, marts, reports and the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # main() prints one line; the traceback only with --verbose
)
_verbose = False


@app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print tracebacks (ours and Dagster's) with errors.")
    ] = False,
) -> None:
    global _verbose
    _verbose = verbose


def main() -> None:
    """The console script: any error is one line and a non-zero exit; `--verbose` adds the traceback. Every
    byte it prints passes the redaction of the secrets the environment holds (pipelines/redaction.py)."""
    from interactions_etl.redaction import RedactingStream
    from interactions_etl.settings import environment_secrets

    secrets = environment_secrets()
    sys.stdout = RedactingStream(sys.stdout, secrets)  # type: ignore[assignment]
    sys.stderr = RedactingStream(sys.stderr, secrets)  # type: ignore[assignment]
    try:
        app()
    except Exception as exc:
        if _verbose:
            traceback.print_exc()
        hint = "" if _verbose else " (run with --verbose for the traceback)"
        typer.secho(f"error: {_one_line(exc)}{hint}", fg=typer.colors.RED, err=True)
        sys.exit(1)


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return first or type(exc).__name__


def _die(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _settings() -> Settings:
    """The environment's settings (interactions_etl.settings), read once by each command and passed down; a
    variable that does not parse is one line naming it."""
    from interactions_etl.settings import SettingsError, load_settings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            settings = load_settings()
        except SettingsError as exc:
            _die(str(exc))
    for warning in caught:  # one line each, as errors are, not Python's file:line form
        typer.secho(f"warning: {warning.message}", fg=typer.colors.YELLOW, err=True)
    return settings


def _with_warehouse(warehouse: Path | None) -> Settings:
    """The settings, with --warehouse in place of WAREHOUSE_PATH when given."""
    settings = _settings()
    return settings if warehouse is None else settings.model_copy(update={"warehouse_path": warehouse})


def _warehouse(settings: Settings) -> Warehouse:
    """The warehouse the settings describe, file or lake (pipelines/backends.py)."""
    from interactions_etl.backends import warehouse_from_settings

    return warehouse_from_settings(settings)


def _check_writable(backend: Warehouse) -> None:
    """A warehouse folder that cannot be created or written fails here, in one line, not inside the run."""
    from interactions_etl.backends import WarehouseNotWritableError

    try:
        backend.check_writable()
    except WarehouseNotWritableError as exc:
        _die(str(exc))


def _default_start(days: int) -> date:
    # The last `days` whole UTC days, ending yesterday: a demo week that is already complete.
    return datetime.now(UTC).date() - timedelta(days=days)


def _days(start: date, end: date) -> list[date]:
    if end < start:
        _die(f"--end {end} is before --start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# The CLI prints one line per message an asset logs; Dagster's event stream stays in the UI (and in the
# instance, for `dagster dev` to show).
CLI_RUN_CONFIG = {
    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}, "asset_messages": {}},
}


def run_loads(days: list[date], settings: Settings) -> None:
    """Run `interactions_job`, the job the nightly schedule runs, in this process for the days given (a range
    is one run, as a backfill is): the loads, then everything downstream. The run is recorded in the project's
    Dagster instance (pipelines/instance.py), so `dagster dev` shows it afterwards. The settings reach Dagster
    as resources built from them, not through the environment. A day that fails does not stop the others: when
    some days landed, `interactions_refresh_job` refreshes what is downstream of them in a second run, and the
    command still fails, naming the failed days."""
    from dagster import DagsterInstance

    from interactions_etl.definitions import REFRESH_JOB, build_definitions, process_resources, run_limit_tags
    from interactions_etl.instance import InstanceLockTimeout, ensure_dagster_home
    from interactions_etl.schedules import days_landed

    backend = _warehouse(settings)
    first_load = not backend.exists()
    definitions = build_definitions(settings, process_resources(settings))
    job = definitions.resolve_job_def("interactions_job")
    # Dagster's tags for a single-run range, as `dagster asset materialize --partition-range` sets them.
    tags = {
        "dagster/asset_partition_range_start": days[0].isoformat(),
        "dagster/asset_partition_range_end": days[-1].isoformat(),
        # A range is one run: its limit, if a daemon watches this instance, grows with its days (0: none).
        **run_limit_tags(settings.interactions_max_run_seconds * len(days)),
    }
    try:
        home = ensure_dagster_home(settings.dagster_home.resolve(), backend.parallel_loads)
    except InstanceLockTimeout as exc:
        _die(str(exc))
    typer.echo(
        f"running interactions_job for {days[0]}..{days[-1]} ({len(days)} days); Dagster instance: {home}"
    )
    refreshed: _Refresh | None = None
    with DagsterInstance.from_config(str(home)) as instance:
        result = job.execute_in_process(
            instance=instance, tags=tags, run_config=CLI_RUN_CONFIG, raise_on_error=False
        )
        failed_checks = _failed_checks(result)
        errors = _step_errors(result)
        failures = [f"{step}: {_root_cause(error)}" for step, error in errors]
        run_id = result.run_id
        landed = days_landed(instance, run_id)
        # Some days failed and others landed: the load step's failure skipped what is downstream, so those
        # days are refreshed and published by a second run, and this one stays failed, for the failed days.
        if not result.success and landed and {step for step, _ in errors} == {"raw_interactions"}:
            typer.echo(f"{len(landed)} of {len(days)} days landed; refreshing what is downstream of them")
            refresh = definitions.resolve_job_def(REFRESH_JOB).execute_in_process(
                instance=instance, tags=run_limit_tags(settings.interactions_max_run_seconds),
                run_config=CLI_RUN_CONFIG, raise_on_error=False,
            )  # fmt: skip
            failed_checks += _failed_checks(refresh)
            refresh_errors = _step_errors(refresh)
            errors += refresh_errors
            refreshed = _Refresh(
                refresh.run_id,
                refresh.success,
                [f"{step}: {_root_cause(error)}" for step, error in refresh_errors],
            )
        if _verbose:
            for step, error in errors:
                typer.echo(f"Traceback of {step}, as Dagster recorded it:\n{error.to_string()}", err=True)
    if failed_checks:
        typer.echo(f"checks that did not pass: {', '.join(failed_checks)}")
    if not result.success:
        if first_load and backend.holds_nothing():  # no empty warehouse left behind
            backend.remove()
        if refreshed is None:
            _die(
                f"{'; '.join(failures) or 'the run failed'}. Nothing downstream of it was rebuilt: the analysts' "
                f"copy and the report keep their previous state (run {run_id}; `python3 dev.py dagster` shows it)"
            )
        if refreshed.success:
            _die(
                f"{'; '.join(failures)}. The days that landed were refreshed downstream: staging, marts, report "
                f"and analysts' copy (run {run_id} failed, run {refreshed.run_id} refreshed); re-run the failed "
                "days once their cause is fixed"
            )
        _die(
            f"{'; '.join(failures)}. The refresh of the days that landed failed too: "
            f"{'; '.join(refreshed.failures) or 'the run failed'}; the analysts' copy and the report keep their "
            f"previous state (runs {run_id}, {refreshed.run_id})"
        )
    typer.echo(f"run {run_id} succeeded: {len(days)} days loaded, staging, marts, report and copy refreshed")


@dataclass(frozen=True)
class _Refresh:
    """The second run after a range in which some days failed: what is downstream, for the days that landed."""

    run_id: str
    success: bool
    failures: list[str]


def _failed_checks(result: Any) -> list[str]:
    return [
        f"{c.asset_key.to_user_string()}.{c.check_name}"
        for c in result.get_asset_check_evaluations()
        if not c.passed
    ]


def _step_errors(result: Any) -> list[tuple[str, Any]]:
    return [
        (event.step_key, event.event_specific_data.error)
        for event in result.all_events
        if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
    ]


def _root_cause(error: Any) -> str:
    """The error our code raised under Dagster's wrapper of a step failure, in one line, without the exception's
    module path (the traceback stays in the instance for `dg dev`)."""
    while (error.cls_name or "").startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    first = (error.message.strip().splitlines() or [""])[0]
    return re.sub(r"^[\w.]+\.(\w+): ", "", first)


@app.command()
def load(
    start: Annotated[str, typer.Option(help="First UTC day to load (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Last UTC day to load, inclusive (YYYY-MM-DD).")],
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB file (default $WAREHOUSE_PATH or ./warehouse.duckdb).")
    ] = None,
) -> None:
    """Run the nightly's Dagster job in this process for --start..--end: the loads, then everything downstream."""
    settings = _with_warehouse(warehouse)
    try:
        days = _days(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as exc:
        _die(str(exc))
    _check_loadable(days, settings)
    _check_writable(_warehouse(settings))
    run_loads(days, settings)


def _check_loadable(days: list[date], settings: Settings) -> None:
    """Refuse, in one line, what would otherwise fail inside Dagster with a traceback."""
    from interactions_etl.assets.raw import daily_partitions

    for name in ("mixpeek_api_key", "mixpeek_namespace"):
        if getattr(settings, name) is None:
            _die(f"{name.upper()} is not set: export it (see .env.example), or try `interactions demo`")
    today = datetime.now(UTC).date()
    newest = today - timedelta(days=1)
    if days[-1] > newest:
        when = "is today" if days[-1] == today else "is in the future"
        _die(f"{days[-1]} {when}; the newest complete day is {newest}")
    first = daily_partitions(settings.interactions_start_date).start.date()
    if days[0] < first:
        _die(f"{days[0]} is before the first partition, {first} (INTERACTIONS_START_DATE)")


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
        from mixpeek_emulator.prefill import prefill
        from mixpeek_emulator.ratelimit import RateLimit
        from mixpeek_emulator.server import EmulatorServer
    except ImportError as exc:
        _die(
            f"the demo runs the Mixpeek emulator, which is not installed ({exc.name} is missing): "
            "pip install 'interactions-etl[emulator]' (python3 dev.py demo does)"
        )

    from interactions_etl.backends import FileWarehouse

    # The demo is the quick start: always the embedded file, whatever WAREHOUSE_BACKEND says.
    warehouse = warehouse.resolve()
    demo_warehouse = FileWarehouse(path=warehouse, published_path=_settings().published_warehouse_path)
    _check_writable(demo_warehouse)
    key = "sk_demo_" + secrets.token_hex(16)  # lives in this process only; never printed
    namespace = "demo"
    first_day = _default_start(days)
    emulator_state = Emulator(
        EmulatorConfig(api_keys={key: None}, namespaces=[namespace], rate_limit=RateLimit.tier("pro"))
    )
    typer.echo(f"generating {days} days x {per_day:,} interactions of synthetic traffic (seed {seed}) ...")
    prefill(emulator_state, namespace, seed=seed, start=first_day, days=days, per_day=per_day, progress=True)
    with EmulatorServer(emulator_state) as server:
        typer.echo(f"emulator of the Mixpeek API listening on {server.base_url}")
        settings = _settings().model_copy(
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
    first_query = (
        "SELECT partition_date, count(*) AS interactions, count(DISTINCT execution_id) AS searches "
        "FROM raw.interactions GROUP BY ALL ORDER BY 1"
    )
    from interactions_etl import warehouse as warehouse_db

    # Analysts open the published copy: a session on the loader's own file would block the next load.
    published = demo_warehouse.published_copy
    con = warehouse_db.connect(published, read_only=True)
    try:
        answer = str(con.sql(first_query))
    finally:
        con.close()
    typer.echo(
        f"\nwarehouse (the loads write it): {warehouse}\nanalysts' copy (open this one): {published}\n\n"
        f'first query to try:\n  duckdb -readonly {published} "{first_query}"\n{answer}'
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


@app.command("forget-user")
def forget_user_command(
    user_id: Annotated[str, typer.Argument(help="The user_id to erase, as the API sends it.")],
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB file (default $WAREHOUSE_PATH or ./warehouse.duckdb).")
    ] = None,
) -> None:
    """Erase a user from every file: the warehouse (raw, staging, marts; its bytes on disk too), what analysts
    read, and the reports that counted them. Dagster's storage is searched for the id too."""
    from interactions_etl import erasure
    from interactions_etl.privacy import Pseudonymiser

    settings = _with_warehouse(warehouse)
    backend = _warehouse(settings)
    if not backend.exists():
        _die(f"no warehouse at {backend.location}")
    reports, home = settings.reports_dir, settings.dagster_home.resolve()
    key = settings.interactions_pseudonymise_key
    done = erasure.erase_everywhere(
        backend,
        user_id,
        reports_dir=reports,
        also_search=[reports, home],
        pseudonymiser=Pseudonymiser(key.get_secret_value()) if key else None,
    )
    if not done.found:
        typer.echo(f"{user_id} was not found: {backend.name} and what analysts read hold none of their "
                   "interactions; nothing was erased")  # fmt: skip
    else:
        typer.echo(
            f"{backend.name}: erased {done.warehouse.interactions:,} interactions and "
            f"{done.warehouse.quarantined:,} quarantined records; staging and marts rebuilt for "
            f"{done.warehouse.days_rebuilt} days"
        )
    typer.echo(f"storage: {done.storage}")
    if done.published is not None:
        typer.echo(done.published)
    if done.reports_rewritten:
        typer.echo(
            f"{reports}: {len(done.reports_rewritten)} report files rewritten without the user's counts"
        )
    elif done.found:
        typer.echo(f"{reports}: no report covers the user's days")
    if done.files_still_holding:
        names = ", ".join(str(p) for p in done.files_still_holding)
        _die(f"the id is still in {names}: erase it there (for Dagster's storage, `dagster asset wipe` or a "
             "new DAGSTER_HOME)")  # fmt: skip
    typer.echo(f"no file under {reports} or Dagster's home {home} holds the id")
    if done.found:
        typer.echo("Erase the user upstream too, or the next load brings the records back.")


@app.command()
def report(
    start: Annotated[
        str | None,
        typer.Option(help="First search day (YYYY-MM-DD); default: the marts' position-bias window."),
    ] = None,
    end: Annotated[str | None, typer.Option(help="Last search day, inclusive (YYYY-MM-DD).")] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Folder for the HTML files (default $REPORTS_DIR or ./reports).")
    ] = None,
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB file (default $WAREHOUSE_PATH or ./warehouse.duckdb).")
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            help="Dated reports (position_bias_<date>.html) to keep in the folder, newest first; older ones are "
            "deleted (default $INTERACTIONS_REPORTS_KEEP or 30)."
        ),
    ] = None,
) -> None:
    """Write the position-bias report (self-contained HTML) for a window of search days."""
    from interactions_etl import warehouse as warehouse_db
    from interactions_etl.report import write_report
    from interactions_etl.report.data import Period

    settings = _with_warehouse(warehouse)
    if keep is None:
        keep = settings.interactions_reports_keep
    elif keep < 1:
        _die(f"--keep {keep}: keep at least 1 report")
    backend = _warehouse(settings)
    if not backend.exists():
        _die(f"no warehouse at {backend.location}: run `interactions load` or `interactions demo` first")
    con = backend.connect_finished()
    name = backend.name
    try:
        if (start is None) != (end is None):
            _die("give both --start and --end, or neither (the marts' window)")
        if start is None:
            window = warehouse_db.one(con, "report/mart_window")
            if window is None or window[1] is None:
                _die("the marts have no position-bias fit yet: give --start and --end")
            period = Period(*window)
        else:
            try:
                period = Period(date.fromisoformat(start), date.fromisoformat(end or start))
            except ValueError as exc:
                _die(str(exc))
        written = write_report(con, period, out_dir or settings.reports_dir, warehouse_name=name, keep=keep)
    finally:
        con.close()
    typer.echo(f"{written.summary_markdown}\n\nwritten: {written.path}\nlatest:  {written.latest}")
    if written.pruned:
        typer.echo(f"pruned:  {len(written.pruned)} older dated reports (keeping the newest {keep})")


@app.command()
def migrate(
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="A DuckDB warehouse file, or the folder of EXPORT DATABASE ... (FORMAT parquet) of one.",
        ),
    ],
) -> None:
    """Copy a warehouse (every table of raw, staging and the marts) into the configured one, usually the lake
    (WAREHOUSE_BACKEND=ducklake), in one transaction. The target must hold no interactions yet."""
    from interactions_etl.migrate import MigrationError
    from interactions_etl.migrate import migrate as copy_warehouse

    backend = _warehouse(_settings())
    target = backend.location
    if backend.is_file(Path(source)):
        _die(
            f"--from {source} is the configured warehouse itself: set WAREHOUSE_BACKEND=ducklake (docs/scale.md)"
        )
    try:
        report = copy_warehouse(source, target)
    except MigrationError as exc:
        _die(str(exc))
    for table, rows in report.rows.items():
        typer.echo(f"{table}: {rows:,} rows")
    if report.skipped:
        typer.echo(f"not in the source (kept empty): {', '.join(report.skipped)}")
    typer.echo(f"copied {source} into {target}")


@app.command()
def config(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print README's table of the settings and their defaults.")
    ] = False,
) -> None:
    """Print every setting: its variable, the value in effect here (secrets masked) and what it means."""
    from interactions_etl.settings import markdown_table

    if markdown:
        typer.echo(markdown_table(), nl=False)
        return
    settings = _settings()
    rows = settings.rows()
    width = max(len(name) for name, *_ in rows)
    for name, value, _, meaning in rows:
        source = "environment" if name.lower() in settings.model_fields_set else "default"
        typer.echo(f"{name:<{width}}  {value}  ({source})\n{'':<{width}}  {meaning}")


@app.command()
def dictionary(
    out: Annotated[Path, typer.Option(help="Where to write the data dictionary.")] = Path(
        "docs/warehouse.md"
    ),
) -> None:
    """Write the warehouse's data dictionary (docs/warehouse.md) from its column comments."""
    from interactions_etl.dictionary import build_dictionary

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_dictionary())
    typer.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
