"""Issue 14: `forget-user` reaches every file anyone can open. After a full build through Dagster's job (the
loads, staging, marts, the report, the analysts' copy), erasing a user leaves their id in no byte of the
analysts' copy, the reports or Dagster's storage, and the analysts' copy equals one built without the user."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mixpeek_emulator.app import Emulator, EmulatorConfig
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from mixpeek_emulator.prefill import enrich
from mixpeek_emulator.ratelimit import RateLimit
from mixpeek_emulator.server import EmulatorServer
from tests.reliability.test_fault_matrix import assert_same_warehouse, snapshot

KEY, NAMESPACE = "sk_erasure_everywhere_71c3", "ns_erasure"
DAYS = 3
FIRST = datetime.now(UTC).date() - timedelta(days=DAYS)
LAST = FIRST + timedelta(days=DAYS - 1)


def traffic() -> list[dict[str, Any]]:
    return [
        enrich(r)
        for r in generate_traffic(TrafficConfig(seed=41, start=FIRST, days=DAYS, per_day=3000)).records()
    ]


def serve(records: list[dict[str, Any]]) -> EmulatorServer:
    emulator = Emulator(
        EmulatorConfig(api_keys={KEY: None}, namespaces=[NAMESPACE], rate_limit=RateLimit.tier("pro"))
    )
    emulator.add_namespace(NAMESPACE).bulk_insert(iter(records))
    return EmulatorServer(emulator)


def env_for(folder: Path, base_url: str) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIXPEEK_", "DAGSTER_", "INTERACTIONS_", "WAREHOUSE_", "REPORTS_", "PUBLISHED_"))
    }
    return {**clean, "DAGSTER_HOME": str(folder / "dagster_home"), "MIXPEEK_BASE_URL": base_url,
            "MIXPEEK_API_KEY": KEY, "MIXPEEK_NAMESPACE": NAMESPACE, "MIXPEEK_REQUESTS_PER_SECOND": "100",
            "WAREHOUSE_PATH": str(folder / "warehouse.duckdb"), "REPORTS_DIR": str(folder / "reports")}  # fmt: skip


def interactions(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([sys.executable, "-m", "interactions_etl.cli", *args], env=env, cwd=folder,
                               capture_output=True, text=True, timeout=280)  # fmt: skip
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    return completed


def build(folder: Path, records: list[dict[str, Any]]) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    with serve(records) as server:
        env = env_for(folder, server.base_url)
        interactions(folder, env, "load", "--start", FIRST.isoformat(), "--end", LAST.isoformat())
    return env


def files_holding(folder: Path, needle: bytes) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()
    )


@pytest.mark.slow
def test_forget_user_leaves_no_trace_in_any_file_anyone_can_open(tmp_path: Path) -> None:
    records = traffic()
    user, count = Counter(r["user_id"] for r in records if r.get("user_id")).most_common(1)[0]
    needle = user.encode()
    full_env = build(tmp_path / "full", records)
    build(tmp_path / "without", [r for r in records if r.get("user_id") != user])
    full = tmp_path / "full"
    published = full / "warehouse.published.duckdb"
    assert needle in published.read_bytes()  # the control: before erasure the analysts' copy holds the id
    reports_before = {p.name: p.read_bytes() for p in (full / "reports").glob("*.html")}
    assert reports_before

    erased = interactions(full, full_env, "forget-user", user)
    said = erased.stdout
    assert f"erased {count:,} interactions" in said, said
    assert "analysts' copy" in said and "published again" in said, said
    assert "report" in said, said

    assert files_holding(full, needle) == []  # the warehouse, its copy, the reports, Dagster's home
    assert_same_warehouse(snapshot(published), snapshot(tmp_path / "without" / "warehouse.published.duckdb"))
    rewritten = {p.name: comparable(p) for p in (full / "reports").glob("*.html")}
    built_without = {p.name: comparable(p) for p in (tmp_path / "without" / "reports").glob("*.html")}
    assert rewritten.keys() == reports_before.keys() == built_without.keys()
    for name in rewritten:  # the user's counts are gone: each report is the one built without the user
        assert rewritten[name] == built_without[name], name
        assert rewritten[name] != comparable_text(reports_before[name].decode()), name


def comparable_text(html: str) -> str:
    """A report without what differs between two writings of the same figures: when it was generated, and the
    random ids plotly gives its chart elements."""
    html = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "<generated>", html)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", html)


def comparable(path: Path) -> str:
    return comparable_text(path.read_text())


def test_a_user_not_found_is_said_plainly(tmp_path: Path) -> None:
    from interactions_etl import warehouse

    path = tmp_path / "warehouse.duckdb"
    con = warehouse.connect(path)
    warehouse.ensure_raw_tables(con)
    con.close()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("INTERACTIONS_", "PUBLISHED_", "REPORTS_"))
    }
    completed = subprocess.run([sys.executable, "-m", "interactions_etl.cli", "forget-user", "user_nobody",
                                "--warehouse", str(path)], env=env, cwd=tmp_path, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "user_nobody was not found" in completed.stdout, completed.stdout
