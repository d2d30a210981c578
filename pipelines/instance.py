"""The project's persistent Dagster instance (DAGSTER_HOME, else `./.dagster_home`: settings.dagster_home),
holding the run history that `dagster dev` shows, and the dagster.yaml that queues runs on the warehouse (pipelines/dagster.yaml)."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


def ensure_dagster_home(home: Path, parallel_loads: int | None = None) -> Path:
    """Create the instance folder with the project's dagster.yaml (a dagster.yaml already there is kept) and
    the warehouse pool's limit of one run; with `parallel_loads` (a lake), the loads' pool limit."""
    from dagster import DagsterInstance

    from interactions_etl.assets.policies import LOAD_POOL, WAREHOUSE_POOL

    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(resources.files("interactions_etl").joinpath("dagster.yaml").read_text())
    with DagsterInstance.from_config(str(home)) as instance:
        # The run queue applies `default_limit` to a pool only from its second look at it, so the runs of a
        # first tick would all start at once: the limit is set before anything is queued (what
        # `dagster instance concurrency set duckdb_warehouse 1` does).
        storage = instance.event_log_storage
        if WAREHOUSE_POOL not in storage.get_concurrency_keys():
            storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
        if parallel_loads is not None:  # the setting in effect, each time: it may have changed
            storage.set_concurrency_slots(LOAD_POOL, parallel_loads)
    return home


if __name__ == "__main__":  # dev.py: `python -m interactions_etl.instance HOME`, before `dagster dev` starts
    from interactions_etl.settings import load_settings

    settings = load_settings()
    print(
        ensure_dagster_home(
            Path(sys.argv[1] if len(sys.argv) > 1 else settings.dagster_home).resolve(),
            settings.ducklake_parallel_loads if settings.warehouse_backend == "ducklake" else None,
        )
    )
