"""The `interactions` command: the Typer app, its options, and what every command shares (one-line errors,
the settings, the warehouse). The commands are in the modules beside this one, one per group."""

from __future__ import annotations

import sys
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

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
        typer.secho(f"error: {one_line(exc)}{hint}", fg=typer.colors.RED, err=True)
        sys.exit(1)


def one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return first or type(exc).__name__


def die(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def settings_of_environment() -> Settings:
    """The environment's settings (interactions_etl.settings), read once by each command and passed down; a
    variable that does not parse is one line naming it."""
    from interactions_etl.settings import SettingsError, load_settings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            settings = load_settings()
        except SettingsError as exc:
            die(str(exc))
    for warning in caught:  # one line each, as errors are, not Python's file:line form
        typer.secho(f"warning: {warning.message}", fg=typer.colors.YELLOW, err=True)
    return settings


def settings_with_warehouse(warehouse: Path | None) -> Settings:
    """The settings, with --warehouse in place of WAREHOUSE_PATH when given."""
    settings = settings_of_environment()
    return settings if warehouse is None else settings.model_copy(update={"warehouse_path": warehouse})


def warehouse_of_settings(settings: Settings) -> Warehouse:
    """The warehouse the settings describe, file or lake (pipelines/backends.py)."""
    from interactions_etl.backends import warehouse_from_settings

    return warehouse_from_settings(settings)


def check_writable(backend: Warehouse) -> None:
    """A warehouse folder that cannot be created or written fails here, in one line, not inside the run."""
    from interactions_etl.backends import WarehouseNotWritableError

    try:
        backend.check_writable()
    except WarehouseNotWritableError as exc:
        die(str(exc))


def verbose() -> bool:
    """Whether --verbose was given (tracebacks with errors)."""
    return _verbose
