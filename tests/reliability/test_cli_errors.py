"""Issue 13: bad input gets one clear line and a non-zero exit, never a traceback, and a first load that fails
leaves no empty warehouse behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import API_KEY, DAY, NAMESPACE, fill, spread_over_day


def interactions(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_", "WAREHOUSE_"))}
    return subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", *args],
        env={**clean, "MIXPEEK_REQUESTS_PER_SECOND": "500", **env}, cwd=tmp_path, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


def interactions_load(
    tmp_path: Path, env: dict[str, str], start: str, end: str, *, warehouse: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return interactions(
        tmp_path,
        env,
        "load",
        "--start",
        start,
        "--end",
        end,
        "--warehouse",
        str(warehouse or tmp_path / "w.duckdb"),
    )


def one_error_line(completed: subprocess.CompletedProcess[str]) -> str:
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output[-3000:]
    return errors[0]


def api(server: EmulatorServer, **overrides: str) -> dict[str, str]:
    return {"MIXPEEK_BASE_URL": server.base_url, "MIXPEEK_API_KEY": API_KEY, "MIXPEEK_NAMESPACE": NAMESPACE,
            **overrides}  # fmt: skip


def test_a_missing_key(server: EmulatorServer, tmp_path: Path) -> None:
    env = api(server)
    del env["MIXPEEK_API_KEY"]
    line = one_error_line(interactions_load(tmp_path, env, DAY.isoformat(), DAY.isoformat()))
    assert "MIXPEEK_API_KEY is not set" in line
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"MIXPEEK_API_KEY": "sk_wrong_key_123"}, "HTTP 401"),
        ({"MIXPEEK_NAMESPACE": "ns_nobody_has"}, "HTTP 404"),
    ],
    ids=["wrong_key", "wrong_namespace"],
)
def test_a_wrong_key_or_namespace_and_no_empty_warehouse_left(
    server: EmulatorServer, tmp_path: Path, override: dict[str, str], expected: str
) -> None:
    fill(server, spread_over_day(100))
    line = one_error_line(
        interactions_load(tmp_path, api(server, **override), DAY.isoformat(), DAY.isoformat())
    )
    assert expected in line and "raw_interactions" in line
    assert "sk_wrong_key_123" not in line
    assert not (tmp_path / "w.duckdb").exists() and not (tmp_path / "w.duckdb.wal").exists()


def test_an_unreachable_url_fails_fast(server: EmulatorServer, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    completed = interactions_load(
        tmp_path, api(server, MIXPEEK_BASE_URL=f"http://127.0.0.1:{port}"), DAY.isoformat(), DAY.isoformat()
    )
    line = one_error_line(completed)
    assert "cannot connect to" in line and "MIXPEEK_BASE_URL" in line
    # Fast by what it does, not by a clock a busy host stretches: one attempt, where the retries used to take
    # 55 s of backoff over 8 (a time bound here failed at 54 s on a CI host whose start-up alone took most of it).
    assert "after 1 attempt(s)" in line, line


def test_a_day_that_is_not_over(server: EmulatorServer, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    to_midnight = (
        now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now
    ).total_seconds()
    if to_midnight < 60:  # the CLI's today must be this test's today, a few seconds of start-up later
        time.sleep(to_midnight + 1)
    today = datetime.now(UTC).date()
    line = one_error_line(interactions_load(tmp_path, api(server), today.isoformat(), today.isoformat()))
    assert f"{today} is today; the newest complete day is {today - timedelta(days=1)}" in line


def test_a_day_before_the_first_partition(server: EmulatorServer, tmp_path: Path) -> None:
    line = one_error_line(interactions_load(tmp_path, api(server), "2024-06-01", "2024-06-02"))
    assert "2024-06-01 is before the first partition, 2025-01-01" in line


def test_a_day_failing_its_audit_is_one_line_with_the_figures(proxied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.reliability.conftest import RECORDS
    from tests.reliability.misbehaving import always
    from tests.reliability.test_misbehaving_server import shift_total

    proxy = proxied(always(shift_total(5)))  # on each of the five sub-windows' first page
    line = one_error_line(interactions_load(tmp_path, api(proxy), DAY.isoformat(), DAY.isoformat()))
    assert f"{DAY}: {RECORDS:,} distinct records fetched, the server reports {RECORDS + 25:,}" in line
    assert "the day was not changed" in line and API_KEY not in line


def test_a_range_failing_on_its_second_day_keeps_the_first(
    server: EmulatorServer, proxied, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Only a first load that landed nothing is removed: days landed before the failure stay."""
    from tests.reliability.conftest import RECORDS
    from tests.reliability.test_misbehaving_server import day_rows, shift_total

    second = DAY + timedelta(days=1)
    fill(server, spread_over_day(300, second, start_index=90_000))
    wrong_total = shift_total(5)

    def second_day_only(_number: int, body: dict) -> bytes | None:  # type: ignore[type-arg]
        records = body.get("results") or []
        if records and records[0]["timestamp"].startswith(second.isoformat()):
            import orjson

            return orjson.dumps(wrong_total(body))
        return None

    line = one_error_line(
        interactions_load(tmp_path, api(proxied(second_day_only)), DAY.isoformat(), second.isoformat())
    )
    assert f"{second}:" in line and "the day was not changed" in line
    assert len(day_rows(tmp_path / "w.duckdb")) == RECORDS  # the first day, landed before the failure


def unwritable_folders(tmp_path: Path) -> dict[str, Path]:
    """A folder that exists but takes no files, and one that cannot be created. Root ignores permission bits,
    so as root these are places no one may write, sysfs."""
    if os.geteuid() == 0:
        return {
            "read_only_folder": Path("/sys/w.duckdb"),
            "uncreatable_folder": Path("/sys/etl-test/w.duckdb"),
        }
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return {"read_only_folder": locked / "w.duckdb", "uncreatable_folder": locked / "sub" / "w.duckdb"}


@pytest.mark.parametrize("case", ["read_only_folder", "uncreatable_folder"])
def test_a_warehouse_folder_that_cannot_be_written(server: EmulatorServer, tmp_path: Path, case: str) -> None:
    target = unwritable_folders(tmp_path)[case]
    try:
        line = one_error_line(
            interactions_load(tmp_path, api(server), DAY.isoformat(), DAY.isoformat(), warehouse=target)
        )
    finally:
        if target.parent.parent == tmp_path / "locked" or target.parent == tmp_path / "locked":
            (tmp_path / "locked").chmod(0o700)  # so pytest can clean up
    assert f"cannot write the warehouse {target}" in line, line
    assert "Permission denied" in line or "not permitted" in line, line
    assert not target.exists()


def test_a_warehouse_locked_by_another_process_names_it_after_the_configured_wait(
    server: EmulatorServer, tmp_path: Path
) -> None:
    from tests.reliability.test_analysts_during_a_load import build, start_analyst

    fill(server, spread_over_day(200))
    build(server, tmp_path / "w.duckdb", DAY)
    analyst = start_analyst(tmp_path / "w.duckdb")  # a reader of the loader's own file blocks every writer
    try:
        started = time.monotonic()
        completed = interactions_load(
            tmp_path, api(server, WAREHOUSE_LOCK_TIMEOUT_SECONDS="3"), DAY.isoformat(), DAY.isoformat()
        )
        waited = time.monotonic() - started
    finally:
        analyst.stdin.close()  # type: ignore[union-attr]
        analyst.wait(timeout=30)
    line = one_error_line(completed)
    assert f"(PID {analyst.pid})" in line and "waited 3 s" in line, line
    assert waited >= 3


def test_verbose_adds_the_tracebacks(server: EmulatorServer, tmp_path: Path) -> None:
    env = api(server, MIXPEEK_API_KEY="sk_wrong_key_123")
    quiet = interactions(tmp_path, env, "load", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert "HTTP 401" in one_error_line(quiet)
    loud = interactions(
        tmp_path, env, "--verbose", "load", "--start", DAY.isoformat(), "--end", DAY.isoformat()
    )
    assert loud.returncode != 0 and "HTTP 401" in loud.stderr
    assert "Traceback of raw_interactions" in loud.stderr and 'File "' in loud.stderr, loud.stderr[-2000:]
    assert "sk_wrong_key_123" not in loud.stdout + loud.stderr


def test_an_unexpected_error_is_one_line_and_verbose_shows_where(tmp_path: Path) -> None:
    """Errors nobody foresaw (here a warehouse file that is no DuckDB file) get the one-line treatment too."""
    garbage = tmp_path / "not-a-warehouse.duckdb"
    garbage.write_bytes(b"this is no database" * 100)
    line = one_error_line(interactions(tmp_path, {}, "report", "--warehouse", str(garbage)))
    assert "--verbose" in line, line
    loud = interactions(tmp_path, {}, "--verbose", "report", "--warehouse", str(garbage))
    assert loud.returncode != 0 and "Traceback" in loud.stderr
