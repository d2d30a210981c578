"""One writer at a time on a lake (Dagster-free): a PostgreSQL advisory lock in the lake's catalog database.

DuckLake checks conflicts per table at COMMIT, so two processes that write the same tables (two refreshes, a
refresh and a load) fail one of them; and a build that publishes while another process's day commits under it
records a snapshot whose marts miss that day. The Dagster pool serialises refresh runs, but not the CLI, cron or
two people at once, nor a run on another machine. So every transaction that writes the lake takes this lock
first: a session-level advisory lock, held by a small libpq connection of its own, released on exit or when
the process dies (PostgreSQL drops the session). Waiting is bounded (WAREHOUSE_LOCK_TIMEOUT_SECONDS); a waiter
that gives up names the holder, from the application_name the holder set when it connected.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

import psycopg2
import psycopg2.errors

from interactions_etl.lake import Lake, LakeError, display_name

# pg_advisory_lock(int4, int4): a key space of this project's own (ASCII "IETL"), and the lake writer in it.
# Advisory locks live per database, and each lake has its own catalog database: one lock per lake.
LOCK_KEY = (0x4945544C, 1)
APPLICATION_NAME_BYTES = 63  # PostgreSQL keeps NAMEDATALEN - 1 bytes of application_name


class LakeLockTimeoutError(LakeError):
    """Another writer held the lake for longer than the lock timeout; the message names it."""


_held: dict[tuple[str, int], int] = {}  # (catalog, thread) -> depth: a holder's nested writes pass through
_held_guard = threading.Lock()


def holder_name(purpose: str, *, host: str | None = None, pid: int | None = None) -> str:
    """What the lock's connection calls itself (application_name, at most 63 bytes): what it does, where, who."""
    host = (host or socket.gethostname()).split(".")[0]
    pid = os.getpid() if pid is None else pid
    head = f"interactions-etl {purpose}"[:40]
    tail = f" pid {pid}"
    room = APPLICATION_NAME_BYTES - len(head.encode()) - len(tail) - len(" on ")
    return f"{head} on {host.encode()[: max(room, 1)].decode(errors='ignore')}{tail}"


HOLDER_SQL = """
SELECT activity.application_name, locks.pid, extract(epoch FROM now() - activity.backend_start)
FROM pg_locks AS locks
LEFT JOIN pg_stat_activity AS activity ON activity.pid = locks.pid
WHERE locks.locktype = 'advisory' AND locks.granted
  AND locks.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND locks.classid = %s AND locks.objid = %s AND locks.objsubid = 2
"""


def describe_holder(connection: psycopg2.extensions.connection) -> str:
    """Who holds the lake's writer lock, in a few words (its application_name, its server pid, for how long)."""
    with connection.cursor() as cursor:
        cursor.execute(HOLDER_SQL, LOCK_KEY)
        found = cursor.fetchone()
    if found is None:
        return "a writer that has just let go"
    name, pid, seconds = found
    since = f", for {seconds:.0f} s" if seconds is not None else ""  # hidden from other roles: left out
    return f"'{name or 'an unnamed client'}' (PostgreSQL pid {pid}{since})"


def _connect(lake: Lake, purpose: str) -> psycopg2.extensions.connection:
    try:
        connection = psycopg2.connect(
            lake.catalog,
            password=lake.password.get_secret_value() if lake.password else None,
            application_name=holder_name(purpose),
            connect_timeout=30,
            keepalives=1,  # a holder that vanishes without closing is noticed, and its lock freed
            keepalives_idle=30,
        )
    except psycopg2.Error as exc:
        # libpq's reason (no password in it), in one line.
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise LakeError(f"could not take the writer lock of {display_name(lake)}: {reason[:300]}") from None
    connection.autocommit = True
    return connection


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
    connection = _connect(lake, purpose)
    try:
        with connection.cursor() as cursor:
            # PostgreSQL's own bounded wait: the waiter queues behind the holder (first come, first served).
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false)", (f"{max(int(timeout_seconds * 1000), 1)}ms",)
            )
            try:
                cursor.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEY)
            except psycopg2.errors.LockNotAvailable:
                raise LakeLockTimeoutError(
                    f"{display_name(lake)} is being written by {describe_holder(connection)}; this {purpose} "
                    f"waited {timeout_seconds:.0f} s for the lake's writer lock (WAREHOUSE_LOCK_TIMEOUT_SECONDS)"
                ) from None
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]
            with contextlib.suppress(psycopg2.Error):  # closing the session frees it in any case
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEY)
    finally:
        connection.close()
