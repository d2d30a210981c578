"""What every warehouse asset shares: the concurrency pool that queues runs, the single-run backfill policy,
the freshness the nightly schedule promises, and table metadata read from the warehouse's catalog."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
from dagster import (
    BackfillPolicy,
    BetaWarning,
    FreshnessPolicy,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from interactions_etl import warehouse

# Every asset that opens the warehouse is in this pool. DuckDB lets one process write the file, so the
# instance's dagster.yaml (pipelines/dagster.yaml) limits the pool to one run at a time, at run granularity:
# the three runs of a nightly tick, a backfill and a click in the UI queue instead of failing on the lock.
WAREHOUSE_POOL = "duckdb_warehouse"
# On a lake (WAREHOUSE_BACKEND=ducklake) many processes may write, so the partition loads leave that pool for
# this one, limited to DUCKLAKE_PARALLEL_LOADS runs (pipelines/instance.py sets it); the downstream refresh
# stays in WAREHOUSE_POOL, one run at a time.
LOAD_POOL = "interactions_loads"


def single_run_backfill() -> BackfillPolicy:
    """A range of days is one run (the raw asset loads the days one by one, each in its own transaction, and
    everything downstream is refreshed once), which `dagster asset materialize --partition-range` requires."""
    return BackfillPolicy.single_run()


def one_run_per_partition() -> BackfillPolicy:
    """A range of days as one run per day: on a lake the days load in parallel, up to the pool's limit."""
    return BackfillPolicy.multi_run(1)


def warehouse_asset(
    *, pool: str = WAREHOUSE_POOL, backfill_policy: BackfillPolicy | None = None, **kwargs: Any
) -> Callable[..., Any]:
    """`@asset` in the warehouse pool with the single-run backfill policy (unless told otherwise). Dagster flags
    `backfill_policy` on `@asset` (not on `@multi_asset`) as beta; we rely on it knowingly, so the warning is
    not repeated at every start-up of `dagster dev` and the CLI."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return asset(pool=pool, backfill_policy=backfill_policy or single_run_backfill(), **kwargs)


def nightly_freshness(deadline: time) -> FreshnessPolicy:
    """Fresh when the asset materialized in the 24 hours before the day's deadline (UTC): the nightly run
    happened. Evaluated by the daemon, shown in the UI, whatever ran or did not."""
    return FreshnessPolicy.cron(
        deadline_cron=f"{deadline.minute} {deadline.hour} * * *",
        lower_bound_delta=timedelta(hours=24),
        timezone="UTC",
    )


def newest_expected_day(now: datetime, deadline: time) -> date:
    """The newest UTC day that should be loaded at `now`: yesterday once today's deadline has passed, else
    the day before."""
    now = now.astimezone(UTC)
    yesterday = now.date() - timedelta(days=1)
    return yesterday if now.time() >= deadline else yesterday - timedelta(days=1)


def table_metadata(con: duckdb.DuckDBPyConnection, qualified_name: str, row_count: int) -> dict[str, Any]:
    """Dagster's table metadata for `schema.table`: its column schema with types and the COMMENT ON text
    of each column (the catalog is the one source of descriptions), its name and its row count."""
    database = con.execute("SELECT current_database()").fetchone()[0]
    columns = [
        TableColumn(name=c.name, type=c.data_type, description=c.comment)
        for c in warehouse.table_columns(con, qualified_name)
    ]
    return {
        "dagster/table_name": f"{database}.{qualified_name}",
        "dagster/column_schema": MetadataValue.table_schema(TableSchema(columns=columns)),
        "dagster/row_count": row_count,
    }
