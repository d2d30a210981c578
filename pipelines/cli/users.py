"""`interactions forget-user`: a user erased from every file anyone can open."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interactions_etl.cli.app import app, die, settings_with_warehouse, warehouse_of_settings


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

    settings = settings_with_warehouse(warehouse)
    backend = warehouse_of_settings(settings)
    if not backend.exists():
        die(f"no warehouse at {backend.location}")
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
        die(f"the id is still in {names}: erase it there (for Dagster's storage, `dagster asset wipe` or a "
             "new DAGSTER_HOME)")  # fmt: skip
    typer.echo(f"no file under {reports} or Dagster's home {home} holds the id")
    if done.found:
        typer.echo("Erase the user upstream too, or the next load brings the records back.")
