"""`interactions report`: the position-bias report for a window of search days."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from interactions_etl.cli.app import app, die, settings_with_warehouse, warehouse_of_settings


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

    settings = settings_with_warehouse(warehouse)
    if keep is None:
        keep = settings.interactions_reports_keep
    elif keep < 1:
        die(f"--keep {keep}: keep at least 1 report")
    backend = warehouse_of_settings(settings)
    if not backend.exists():
        die(f"no warehouse at {backend.location}: run `interactions load` or `interactions demo` first")
    con = backend.connect_finished()
    name = backend.name
    try:
        if (start is None) != (end is None):
            die("give both --start and --end, or neither (the marts' window)")
        if start is None:
            window = warehouse_db.one(con, "report/mart_window")
            if window is None or window[1] is None:
                die("the marts have no position-bias fit yet: give --start and --end")
            period = Period(*window)
        else:
            try:
                period = Period(date.fromisoformat(start), date.fromisoformat(end or start))
            except ValueError as exc:
                die(str(exc))
        written = write_report(con, period, out_dir or settings.reports_dir, warehouse_name=name, keep=keep)
    finally:
        con.close()
    typer.echo(f"{written.summary_markdown}\n\nwritten: {written.path}\nlatest:  {written.latest}")
    if written.pruned:
        typer.echo(f"pruned:  {len(written.pruned)} older dated reports (keeping the newest {keep})")
