"""Shared fixtures: real emulators on loopback ports, stopped after each test; and the one way tests build a
warehouse from records that did not come through the API."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from interactions_etl import warehouse
from interactions_etl.lake import Lake
from mixpeek_emulator.app import Emulator, EmulatorConfig
from mixpeek_emulator.server import EmulatorServer
from tests.services import PostgresServer, S3Server, missing_postgres_reason

if TYPE_CHECKING:
    from interactions_etl.marts import MartsSettings

StartEmulator = Callable[..., EmulatorServer]


@pytest.hookimpl(optionalhook=True)  # `-p no:xdist` runs without xdist, and without its hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadfile` (python3 dev.py test), the longest files first: tests/scheduling.py."""
    from tests.scheduling import make_scheduler

    return make_scheduler(config, log)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster per test process (each xdist worker has its own), a database per lake."""
    reason = missing_postgres_reason()
    if reason:
        pytest.skip(f"lake tests need PostgreSQL: {reason}")
    # Not under pytest's tmp folder: that is private to this user, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="interactions-postgres-"))
    server = PostgresServer.start(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server.start(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def new_lake(postgres_server: PostgresServer, tmp_path: Path) -> Callable[[], Lake]:
    """`new_lake()`: an empty DuckLake (its own catalog database, data under tmp_path)."""
    count = 0

    def make() -> Lake:
        nonlocal count
        count += 1
        return postgres_server.lake(tmp_path / f"lake-data-{count}")

    return make


@pytest.fixture(params=["file", "ducklake"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> warehouse.Location:
    """The warehouse on each backend: a DuckDB file, then an empty DuckLake on PostgreSQL."""
    if request.param == "file":
        return tmp_path / "w.duckdb"
    return request.getfixturevalue("new_lake")()


@pytest.fixture
def start_emulator() -> Iterator[StartEmulator]:
    """`start_emulator(api_keys=..., namespaces=..., **config)`: an EmulatorServer already listening."""
    servers: list[EmulatorServer] = []

    def start(**settings: Any) -> EmulatorServer:
        server = EmulatorServer(Emulator(EmulatorConfig(**settings))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def refresh_downstream(path: warehouse.Location, marts: MartsSettings | None = None) -> None:
    """Staging and the marts of the warehouse at `path` (a file or a lake), as the downstream assets build
    them (`marts`: the shipped settings unless given)."""
    from interactions_etl import warehouse
    from interactions_etl.marts import refresh_marts
    from interactions_etl.staging import refresh_staging

    con = warehouse.connect(path)
    try:
        refresh_staging(con)
        refresh_marts(con, marts)
    finally:
        con.close()


def build_warehouse(
    path: Path, records: Iterable[dict[str, Any]], run_id: str = "test", marts: MartsSettings | None = None
) -> None:
    """Land `records` (the generator's, or hand-made API records) and build staging and the marts, as a load
    followed by the downstream assets would."""
    from interactions_etl.landing import land_records

    land_records(path, records, run_id)
    refresh_downstream(path, marts)
