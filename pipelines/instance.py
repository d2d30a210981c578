"""The project's persistent Dagster instance (DAGSTER_HOME, else `./.dagster_home`: settings.dagster_home),
holding the run history that `dagster dev` shows, and the dagster.yaml that queues runs on the warehouse (pipelines/dagster.yaml).

The first open of a home creates its SQLite storages and stamps their alembic revision; Dagster does that
without a lock, so processes opening a new home at once (four `interactions load` started together) all failed
with "Version table 'alembic_version' has more than one head present". `ensure_dagster_home` writes the
dagster.yaml, creates the storages and sets the pools under an exclusive lock on a file in the home, so that
happens once and later opens find the home complete. The lock covers one machine: an instance whose
dagster.yaml puts its storage on PostgreSQL (docs/scale.md, several machines) relies on dagster-postgres,
which creates its tables in one transaction and retries when another process created them first."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

LOCK_FILE = "interactions-instance.lock"
# Creating a home takes seconds (a busy machine: up to about 10); a wait far beyond that is a stuck process.
LOCK_TIMEOUT_SECONDS = 120.0


class InstanceLockTimeout(TimeoutError):
    """Another process held the home's lock for longer than the wait allowed."""


@contextmanager
def instance_lock(home: Path, timeout_seconds: float | None = None) -> Iterator[None]:
    """Hold the exclusive lock of `home` (an flock, released by the kernel if its holder dies), waiting at most
    `timeout_seconds` for it; the holder's PID is written in the file for the error of whoever waits."""
    lock = home / LOCK_FILE
    if timeout_seconds is None:
        timeout_seconds = LOCK_TIMEOUT_SECONDS
    with lock.open("a+") as handle:  # "a+": never truncate a holder's PID before holding the lock
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # Polled, not a blocking flock: a blocking one has no timeout short of a signal.
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise InstanceLockTimeout(
                        f"{lock} is locked by another process (PID {holder}) creating or opening the Dagster "
                        f"instance; waited {timeout_seconds:.0f} s for it"
                    ) from None
                time.sleep(0.05)
        try:
            handle.truncate(0)
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    processes may call it at once: one at a time creates or opens the home (see the module's docstring),
    each waiting for the lock at most `lock_timeout_seconds` (LOCK_TIMEOUT_SECONDS)."""
    from dagster import DagsterInstance

    from interactions_etl.assets.policies import LOAD_POOL, WAREHOUSE_POOL

    home.mkdir(parents=True, exist_ok=True)
    with instance_lock(home, lock_timeout_seconds):
        config = home / "dagster.yaml"
        if not config.exists():
            template = resources.files("interactions_etl").joinpath("dagster.yaml").read_text()
            _write_atomically(config, template)
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
    try:
        home = ensure_dagster_home(
            Path(sys.argv[1] if len(sys.argv) > 1 else settings.dagster_home).resolve(),
            settings.ducklake_parallel_loads if settings.warehouse_backend == "ducklake" else None,
        )
    except InstanceLockTimeout as exc:
        sys.exit(f"error: {exc}")
    print(home)
