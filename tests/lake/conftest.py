"""The lake tests share the pipeline tests' emulator fixtures, and the environment of a CLI run on a lake."""

from __future__ import annotations

import os
from pathlib import Path

from interactions_etl.lake import Lake
from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import API_KEY, NAMESPACE, make_server, server  # noqa: F401 - fixtures


def lake_cli_env(server: EmulatorServer, lake: Lake, dagster_home: Path) -> dict[str, str]:  # noqa: F811
    """The environment of an `interactions` process loading from `server` into `lake`: the machine's own
    MIXPEEK_, DAGSTER_, DUCKLAKE_ and WAREHOUSE_ settings left out."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIXPEEK_", "DAGSTER_", "DUCKLAKE_", "WAREHOUSE_"))
    }
    assert lake.password is not None
    return {
        **kept,
        "MIXPEEK_BASE_URL": server.base_url,
        "MIXPEEK_API_KEY": API_KEY,
        "MIXPEEK_NAMESPACE": NAMESPACE,
        "MIXPEEK_REQUESTS_PER_SECOND": "500",
        "WAREHOUSE_BACKEND": "ducklake",
        "DUCKLAKE_CATALOG": lake.catalog,
        "DUCKLAKE_CATALOG_PASSWORD": lake.password.get_secret_value(),
        "DUCKLAKE_DATA_PATH": lake.data_path,
        "DAGSTER_HOME": str(dagster_home),
    }
