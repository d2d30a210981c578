"""A PostgreSQL session advisory lock with a bounded wait (Dagster-free): the one helper behind the lake's writer
lock (pipelines/lake_lock.py) and the Dagster instance's creation lock (pipelines/instance.py).

The lock is held by a small autocommit connection of its own: PostgreSQL frees it when that session ends, so a
holder that crashes or vanishes (keepalives notice it) never leaves it taken. The wait is PostgreSQL's own
`lock_timeout`: waiters queue behind the holder, first come first served, with no polling. A waiter that gives
up can name the holder, from the application_name the holder's connection set.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

# pg_advisory_lock(int4, int4): a key space of this project's own (ASCII "IETL") and a lock number in it.
KEY_SPACE = 0x4945544C
APPLICATION_NAME_BYTES = 63  # PostgreSQL keeps NAMEDATALEN - 1 bytes of application_name


class LockConnectError(ConnectionError):
    """The lock's database could not be reached; the message is libpq's reason, on one line."""


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


def describe_holder(connection: psycopg2.extensions.connection, number: int) -> str:
    """Who holds lock `number`, in a few words (its application_name, its server pid, for how long)."""
    with connection.cursor() as cursor:
        cursor.execute(HOLDER_SQL, (KEY_SPACE, number))
        found = cursor.fetchone()
    if found is None:
        return "a holder that has just let go"
    name, pid, seconds = found
    since = f", for {seconds:.0f} s" if seconds is not None else ""  # hidden from other roles: left out
    return f"'{name or 'an unnamed client'}' (PostgreSQL pid {pid}{since})"


def connect(purpose: str, *, dsn: str = "", **keywords: Any) -> psycopg2.extensions.connection:
    """An autocommit connection for holding a lock: libpq's `dsn` (keywords or a postgresql:// URL) and keywords."""
    try:
        connection = psycopg2.connect(
            dsn,
            application_name=holder_name(purpose),
            connect_timeout=30,
            keepalives=1,  # a holder that vanishes without closing is noticed, and its lock freed
            keepalives_idle=30,
            **keywords,
        )
    except psycopg2.Error as exc:
        # libpq's reason (no password in it), in one line.
        raise LockConnectError(" ".join(str(exc).split())[:300] or type(exc).__name__) from None
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def advisory_lock(
    open_connection: Callable[[], psycopg2.extensions.connection],
    number: int,
    *,
    timeout_seconds: float,
    timed_out: Callable[[str], Exception],
) -> Iterator[None]:
    """Hold lock `number` of the project's key space for the block, waiting at most `timeout_seconds`; on
    timeout raise `timed_out(holder)`, the holder described by `describe_holder`."""
    connection = open_connection()
    try:
        with connection.cursor() as cursor:
            wait = f"{max(int(timeout_seconds * 1000), 1)}ms"
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", (wait,))
            try:
                cursor.execute("SELECT pg_advisory_lock(%s, %s)", (KEY_SPACE, number))
            except psycopg2.errors.LockNotAvailable:
                raise timed_out(describe_holder(connection, number)) from None
        try:
            yield
        finally:
            with contextlib.suppress(psycopg2.Error):  # closing the session frees it in any case
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", (KEY_SPACE, number))
    finally:
        connection.close()
