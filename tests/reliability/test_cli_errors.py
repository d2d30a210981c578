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

from pipelines.emulator.server import EmulatorServer
from tests.pipeline.conftest import API_KEY, DAY, NAMESPACE, fill, spread_over_day


def interactions_load(
    tmp_path: Path, env: dict[str, str], start: str, end: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_", "WAREHOUSE_"))}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "load", "--start", start, "--end", end,
         "--warehouse", str(tmp_path / "w.duckdb")],
        env={**clean, "MIXPEEK_REQUESTS_PER_SECOND": "500", **env}, cwd=tmp_path, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


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
    started = time.monotonic()
    completed = interactions_load(
        tmp_path, api(server, MIXPEEK_BASE_URL=f"http://127.0.0.1:{port}"), DAY.isoformat(), DAY.isoformat()
    )
    line = one_error_line(completed)
    assert "cannot connect to" in line and "MIXPEEK_BASE_URL" in line
    assert time.monotonic() - started < 45  # Dagster's start-up included; the retries used to take 55 s alone


def test_a_day_that_is_not_over(server: EmulatorServer, tmp_path: Path) -> None:
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
