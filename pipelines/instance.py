"""The project's persistent Dagster instance (DAGSTER_HOME, else `./.dagster_home`: settings.dagster_home),
holding the run history that `dagster dev` shows, and the dagster.yaml that queues runs on the warehouse (pipelines/dagster.yaml).

The first open of a home creates its storages and stamps their alembic revision; Dagster does that without a
lock, so processes opening a new home at once (four `interactions load` started together) all failed with
"Version table 'alembic_version' has more than one head present". `ensure_dagster_home` writes the
dagster.yaml, creates the storages and sets the pools under an exclusive lock, so that happens once and later
opens find the home complete: an flock on a file in the home, which covers the processes of one machine, and,
when the dagster.yaml keeps the storage in PostgreSQL (several machines, docs/scale.md), a PostgreSQL advisory
lock in that database too (dagster-postgres retries some of its own creation races, not all of them). The locks
cover our entry points (the CLI, dev.py, `python -m interactions_etl.instance`), not Dagster's own commands
(`dagster-webserver`, `dagster-daemon`) started on a new home or database: run this module once before them."""

from __future__ import annotations

import fcntl
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

LOCK_FILE = "interactions-instance.lock"
# The instance's lock in the project's advisory key space (pipelines/pg_lock.py; the lake's writer is 1).
ADVISORY_LOCK_NUMBER = 2
# Creating a home takes seconds (a busy machine: up to about 10); a wait far beyond that is a stuck process.
LOCK_TIMEOUT_SECONDS = 120.0


class InstanceLockTimeout(TimeoutError):
    """Another process held the instance's lock for longer than the wait allowed."""


def _poll(acquire: Callable[[], bool], deadline: float) -> bool:
    """Try to take the flock until `deadline`: flock has no timeout of its own."""
    while not acquire():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def _file_lock(home: Path, deadline: float, timeout_seconds: float) -> Iterator[None]:
    """The home's flock (released by the kernel if its holder dies); the holder's PID is written in the file for
    the error of whoever waits."""
    lock = home / LOCK_FILE
    with lock.open("a+") as handle:  # "a+": never truncate a holder's PID before holding the lock

        def acquire() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not _poll(acquire, deadline):
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise InstanceLockTimeout(
                f"{lock} is locked by another process (PID {holder}) creating or opening the Dagster instance; "
                f"waited {timeout_seconds:.0f} s for it"
            )
        try:
            handle.truncate(0)
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def postgres_urls(home: Path) -> list[str]:
    """The PostgreSQL databases the home's dagster.yaml keeps Dagster's storage in (`storage: postgres:`, or
    dagster_postgres run/event log/schedule storages); none for SQLite. A configuration Dagster would refuse
    is left for it to refuse, with its own message."""
    import yaml
    from dagster._config import process_config
    from dagster._core.instance.ref import InstanceRef
    from dagster_postgres.utils import pg_url_from_config

    ref = InstanceRef.from_dir(str(home))
    urls: set[str] = set()
    for data in (ref.storage_data, ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data):
        if data is None or not data.module_name.startswith("dagster_postgres"):
            continue
        storage_class = getattr(importlib.import_module(data.module_name), data.class_name)
        # Dagster's own reading of the section: `{env: DAGSTER_PG_PASSWORD}` resolved, defaults filled in.
        config = process_config(storage_class.config_type(), yaml.safe_load(data.config_yaml))
        if config.success and config.value is not None:
            urls.add(pg_url_from_config(config.value))
    return sorted(urls)


def _postgres_lock(url: str, deadline: float, timeout_seconds: float) -> AbstractContextManager[None]:
    """The instance's advisory lock in the database (pipelines/pg_lock.py), waiting until `deadline`."""
    import sqlalchemy as sa

    from interactions_etl import pg_lock

    where = sa.make_url(url)  # the URL holds the password: the messages say only where the database is
    # libpq reads postgresql:// URLs, not SQLAlchemy's dialect names (postgresql+psycopg2://).
    dsn = where.set(drivername="postgresql").render_as_string(hide_password=False)

    def timed_out(holder: str) -> InstanceLockTimeout:
        return InstanceLockTimeout(
            f"PostgreSQL advisory lock {pg_lock.KEY_SPACE}/{ADVISORY_LOCK_NUMBER} in the database "
            f"{where.database} on {where.host}:{where.port} is held by {holder}, creating or opening the "
            f"Dagster instance; waited {timeout_seconds:.0f} s for it"
        )

    def open_connection() -> Any:
        try:
            return pg_lock.connect("instance", dsn=dsn)
        except pg_lock.LockConnectError as exc:
            raise InstanceLockTimeout(
                f"could not reach the Dagster instance's database {where.database} on {where.host}:{where.port} "
                f"to lock it: {exc}"
            ) from None

    remaining = max(deadline - time.monotonic(), 0.001)
    return pg_lock.advisory_lock(
        open_connection, ADVISORY_LOCK_NUMBER, timeout_seconds=remaining, timed_out=timed_out
    )


def _write_atomically(path: Path, text: str) -> None:
    """A reader sees no file or the whole one, never half of it: a temporary file beside it, then a rename
    (named by PID, not tempfile's, which would make it readable by its owner only)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def ensure_dagster_home(
    home: Path, parallel_loads: int | None = None, lock_timeout_seconds: float | None = None
) -> Path:
    """Create the instance folder with the project's dagster.yaml (a dagster.yaml already there is kept) and
    the warehouse pool's limit of one run; with `parallel_loads` (a lake), the loads' pool limit. Several
    processes may call it at once: one at a time creates or opens the instance (see the module's docstring),
    each waiting for the locks at most `lock_timeout_seconds` in all (LOCK_TIMEOUT_SECONDS)."""
    from dagster import DagsterInstance

    from interactions_etl.assets.policies import LOAD_POOL, WAREHOUSE_POOL

    timeout = LOCK_TIMEOUT_SECONDS if lock_timeout_seconds is None else lock_timeout_seconds
    deadline = time.monotonic() + timeout
    home.mkdir(parents=True, exist_ok=True)
    with ExitStack() as locks:
        locks.enter_context(_file_lock(home, deadline, timeout))
        config = home / "dagster.yaml"
        if not config.exists():
            template = resources.files("interactions_etl").joinpath("dagster.yaml").read_text()
            _write_atomically(config, template)
        for url in postgres_urls(home):  # sorted: every process takes them in one order
            locks.enter_context(_postgres_lock(url, deadline, timeout))
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
    from interactions_etl.backends import warehouse_from_settings
    from interactions_etl.settings import load_settings

    settings = load_settings()
    try:
        home = ensure_dagster_home(
            Path(sys.argv[1] if len(sys.argv) > 1 else settings.dagster_home).resolve(),
            warehouse_from_settings(settings).parallel_loads,
        )
    except InstanceLockTimeout as exc:
        sys.exit(f"error: {exc}")
    print(home)
