"""The API key never leaves the environment: after a full run with a known key (loads, staging, marts, report,
with Dagster keeping its event log on disk), no log line, exception, metadata entry, warehouse byte or report
byte contains it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from mixpeek_emulator.faults import FaultConfig
from tests.pipeline.conftest import DAY, NAMESPACE, fill, spread_over_day

KEY = "sk_live_DO_NOT_LEAK_7f3a9c2e51b84d06"


@pytest.fixture
def server(start_emulator):  # type: ignore[no-untyped-def]
    # Faults too, so the retry and error paths (which print requests) run with the key in hand.
    return start_emulator(api_keys={KEY: None}, namespaces=[NAMESPACE],
                          faults=FaultConfig(error_rate=0.2, throttle_rate=0.1, retry_after_seconds=0.01, seed=9))  # fmt: skip


def readable_bytes(path: Path) -> bytes:
    """The file's bytes, and for an SQLite file (Dagster's run and event storage) every value in it, zlib
    blobs (how Dagster stores run snapshots) decompressed: a key there would not show in the raw bytes."""
    data = path.read_bytes()
    if not data.startswith(b"SQLite format 3"):
        return data
    import contextlib
    import sqlite3
    import zlib

    parts = [data]
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        with contextlib.suppress(zlib.error):  # not compressed: kept as it is
                            value = zlib.decompress(value)
                        parts.append(value)
                    elif isinstance(value, str):
                        parts.append(value.encode())
    finally:
        con.close()
    return b"\n".join(parts)


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in readable_bytes(p)]


def test_the_search_sees_into_dagsters_compressed_snapshots(tmp_path: Path) -> None:
    """The check below can fail: a secret in a zlib-compressed SQLite value is found."""
    import sqlite3
    import zlib

    con = sqlite3.connect(tmp_path / "runs.db")
    con.execute("CREATE TABLE snapshots (body BLOB)")
    con.execute("INSERT INTO snapshots VALUES (?)", [zlib.compress(b'{"api_key": "' + KEY.encode() + b'"}')])
    con.commit()
    con.close()
    assert KEY.encode() not in (tmp_path / "runs.db").read_bytes()
    assert files_containing(tmp_path, KEY.encode()) == [tmp_path / "runs.db"]


@pytest.mark.slow
def test_the_key_appears_nowhere_after_a_run(server, tmp_path: Path) -> None:
    for i in range(2):
        fill(server, spread_over_day(400, DAY + timedelta(days=i), start_index=10_000 * i))
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_HOME"))},
        "MIXPEEK_BASE_URL": server.base_url,
        "MIXPEEK_API_KEY": KEY,
        "MIXPEEK_NAMESPACE": NAMESPACE,
        "MIXPEEK_REQUESTS_PER_SECOND": "500",
        "DAGSTER_HOME": str(dagster_home),  # a persistent instance: run and event logs land on disk
        "REPORTS_DIR": str(tmp_path / "reports"),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "load", "--start", DAY.isoformat(),
         "--end", (DAY + timedelta(days=1)).isoformat(), "--warehouse", str(tmp_path / "w.duckdb")],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "retries" in completed.stdout  # the run did go through its retry path
    assert KEY not in completed.stdout and KEY not in completed.stderr
    # And a failing run: the error names the request, never the key.
    server.emulator.faults.configure(FaultConfig(error_rate=1.0))
    failed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "load", "--start", DAY.isoformat(), "--end", DAY.isoformat(),
         "--warehouse", str(tmp_path / "w.duckdb")],
        env={**env, "MIXPEEK_REQUESTS_PER_SECOND": "1000"}, capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert failed.returncode != 0
    assert KEY not in failed.stdout and KEY not in failed.stderr
    assert any(p.suffix == ".db" for p in dagster_home.rglob("*")), "Dagster kept no event log on disk"
    assert (tmp_path / "reports" / "latest.html").exists()
    needle = KEY.encode()
    assert files_containing(tmp_path, needle) == []  # warehouse, WAL, reports, Dagster's storage and logs


def test_an_insecure_base_url_other_than_loopback_is_warned_about() -> None:
    import warnings

    from pydantic import SecretStr

    from interactions_etl.mixpeek.settings import MixpeekSettings

    with pytest.warns(UserWarning, match="not TLS"):
        MixpeekSettings(base_url="http://api.example.com", api_key=SecretStr(KEY), namespace="ns")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loopback and https: silent
        MixpeekSettings(base_url="http://127.0.0.1:8765", api_key=SecretStr(KEY), namespace="ns")
        settings = MixpeekSettings(api_key=SecretStr(KEY), namespace="ns")
    assert settings.base_url.startswith("https://") and KEY not in repr(settings)


def test_tls_is_verified_by_default() -> None:
    from pydantic import SecretStr

    from interactions_etl.mixpeek.client import MixpeekClient
    from interactions_etl.mixpeek.settings import MixpeekSettings

    with MixpeekClient(MixpeekSettings(api_key=SecretStr(KEY), namespace="ns")) as client:
        context = client._http._transport._pool._ssl_context  # what httpx will verify certificates with
        import ssl

        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
