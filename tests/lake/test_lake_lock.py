"""The lake's writer lock (pipelines/lake_lock.py) on a real PostgreSQL: one holder at a time, a bounded wait
whose one-line message names the holder and never the password, re-entry by the holder, and release when the
holding process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from interactions_etl import warehouse
from interactions_etl.lake import Lake
from interactions_etl.lake_lock import LakeLockTimeoutError, holder_name, writer_lock
from tests.services import location_arg

ROOT = Path(__file__).resolve().parents[2]


def test_a_waiter_gives_up_in_one_line_naming_the_holder(new_lake: Callable[[], Lake]) -> None:
    lake = new_lake()
    assert lake.password is not None
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(lake, "marts refresh", timeout_seconds=10):
            with writer_lock(lake, "publish", timeout_seconds=10):  # the holder passes through its own lock
                held.set()
                release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        with (
            pytest.raises(LakeLockTimeoutError) as error,
            writer_lock(lake, "load of 2026-10-05", timeout_seconds=1),
        ):
            pass
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    message = str(error.value)
    assert 0.9 < waited < 10
    assert "\n" not in message
    assert lake.password.get_secret_value() not in message
    assert f"'{holder_name('marts refresh')}'" in message  # what it does, on which host, which process
    assert f"pid {os.getpid()}" in message and "this load of 2026-10-05 waited 1 s" in message
    # Released: the next writer gets it at once.
    with writer_lock(lake, "load of 2026-10-05", timeout_seconds=5):
        pass


def test_holder_name_fits_postgres_and_keeps_host_and_pid() -> None:
    name = holder_name(
        "load of 2026-10-05", host="a-very-long-host-name-of-a-build-machine.example.internal", pid=4242
    )
    assert len(name.encode()) <= 63
    assert name.startswith("interactions-etl load of 2026-10-05 on a-very") and name.endswith(" pid 4242")


HOLD = textwrap.dedent(
    """
    import sys, time
    from interactions_etl import warehouse
    from tests.services import location_from_arg

    with warehouse.writer_lock(location_from_arg(sys.argv[1]), "staging refresh", lock_timeout_seconds=10):
        print("held", flush=True)
        time.sleep(300)
    """
)


def test_the_lock_goes_with_a_killed_holder(new_lake: Callable[[], Lake]) -> None:
    lake = new_lake()
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, location_arg(lake)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(LakeLockTimeoutError, match="staging refresh"):
            with warehouse.writer_lock(lake, "publish", lock_timeout_seconds=0.5):
                pass
        child.send_signal(signal.SIGKILL)  # no unlock, no goodbye: PostgreSQL ends the session
        child.wait(30)
        with warehouse.writer_lock(lake, "publish", lock_timeout_seconds=30):
            pass
    finally:
        child.kill()
        child.wait(30)
