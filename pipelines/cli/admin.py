"""`interactions migrate`, `config` and `dictionary`: moving a warehouse, the settings, the data dictionary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interactions_etl.cli.app import app, die, settings_of_environment, warehouse_of_settings


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

    backend = warehouse_of_settings(settings_of_environment())
    target = backend.location
    if backend.is_file(Path(source)):
        die(
            f"--from {source} is the configured warehouse itself: set WAREHOUSE_BACKEND=ducklake (docs/scale.md)"
        )
    try:
        report = copy_warehouse(source, target)
    except MigrationError as exc:
        die(str(exc))
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
    settings = settings_of_environment()
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
