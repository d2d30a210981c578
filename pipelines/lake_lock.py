"""One writer at a time on a lake (Dagster-free): a PostgreSQL advisory lock in the lake's catalog database.

DuckLake checks conflicts per table at COMMIT, so two processes that write the same tables (two refreshes, a
refresh and a load) fail one of them; and a build that publishes while another process's day commits under it
records a snapshot whose marts miss that day. The Dagster pool serialises refresh runs, but not the CLI, cron or
two people at once, nor a run on another machine. So every transaction that writes the lake takes this lock
first: a session-level advisory lock in the catalog database (pipelines/pg_lock.py), released on exit or when
the process dies. Waiting is bounded (WAREHOUSE_LOCK_TIMEOUT_SECONDS); a waiter that gives up names the holder.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg2.extensions

from interactions_etl import pg_lock
from interactions_etl.lake import Lake, LakeError, display_name
from interactions_etl.pg_lock import holder_name

__all__ = ["LOCK_NUMBER", "LakeLockTimeoutError", "holder_name", "writer_lock"]

# Advisory locks live per database, and each lake has its own catalog database: one lock per lake.
LOCK_NUMBER = 1


class LakeLockTimeoutError(LakeError):
    """Another writer held the lake for longer than the lock timeout; the message names it."""


_held: dict[tuple[str, int], int] = {}  # (catalog, thread) -> depth: a holder's nested writes pass through
_held_guard = threading.Lock()


@contextlib.contextmanager
def writer_lock(lake: Lake, purpose: str, *, timeout_seconds: float) -> Iterator[None]:
    """Hold the lake's writer lock for the block, waiting at most `timeout_seconds` for it. Re-entrant in one
    thread: a publish that catches up staging and the marts passes through their own locks."""
    key = (lake.catalog, threading.get_ident())
    with _held_guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return

    def open_connection() -> psycopg2.extensions.connection:
        password = lake.password.get_secret_value() if lake.password else None
        try:
            return pg_lock.connect(purpose, dsn=lake.catalog, password=password)
        except pg_lock.LockConnectError as exc:
            raise LakeError(f"could not take the writer lock of {display_name(lake)}: {exc}") from None

    def timed_out(holder: str) -> LakeLockTimeoutError:
        return LakeLockTimeoutError(
            f"{display_name(lake)} is being written by {holder}; this {purpose} waited {timeout_seconds:.0f} s "
            "for the lake's writer lock (WAREHOUSE_LOCK_TIMEOUT_SECONDS)"
        )

    with pg_lock.advisory_lock(
        open_connection, LOCK_NUMBER, timeout_seconds=timeout_seconds, timed_out=timed_out
    ):
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]
