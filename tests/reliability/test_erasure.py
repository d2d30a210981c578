"""`interactions forget-user`: afterwards the warehouse is the one built from the same data without the user,
and, once compacted, the file holds none of their bytes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

from interactions_etl import warehouse
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.conftest import build_warehouse
from tests.reliability.test_fault_matrix import assert_same_warehouse, snapshot

CONFIG = TrafficConfig(seed=31, start=date(2026, 10, 5), days=3, per_day=4000)


def build(path: Path, records: list[dict]) -> None:
    build_warehouse(path, records, "erasure-test")  # the shipped settings, as the command uses


def test_forget_user_leaves_the_warehouse_built_without_them(tmp_path: Path) -> None:
    records = list(generate_traffic(CONFIG).records())
    users = Counter(r["user_id"] for r in records if r["user_id"])
    user, count = users.most_common(1)[0]
    assert count > 20
    # A quarantined record of theirs too: the raw JSON kept for diagnosis must go as well.
    without = [r for r in records if r["user_id"] != user]
    build(tmp_path / "without.duckdb", without)
    full = tmp_path / "full.duckdb"
    build(full, records)
    con = warehouse.connect(full)
    con.execute(
        "INSERT INTO raw.rejected_interactions (partition_date, interaction_id, reason, raw_json, loaded_at, run_id) VALUES (DATE '2026-10-05', NULL, 'test', ?, now(), 'r')",
        ['{"user_id": "' + user + '", "position": "oops"'],
    )
    con.execute("CHECKPOINT")
    con.close()
    assert user.encode() in full.read_bytes()  # the control: before erasure the id is on disk in clear

    completed = subprocess.run(
        [sys.executable, "-m", "interactions_etl.cli", "forget-user", user, "--warehouse", str(full)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert f"erased {count:,} interactions and 1 quarantined" in completed.stdout

    got, expected = snapshot(full), snapshot(tmp_path / "without.duckdb")
    assert_same_warehouse(got, expected)  # raw, staging and every mart, as if they had never been loaded
    con = warehouse.connect(full, read_only=True)
    left = con.execute(
        "SELECT (SELECT count(*) FROM raw.interactions WHERE user_id = $u)"
        " + (SELECT count(*) FROM staging.interaction_events WHERE user_id = $u)"
        " + (SELECT count(*) FROM staging.search_executions WHERE user_id = $u)"
        " + (SELECT count(*) FROM raw.rejected_interactions WHERE contains(raw_json, $u))",
        {"u": user},
    ).fetchall()[0][0]
    con.close()
    assert left == 0
    # Compacted: the freed blocks, and the id they held, did not come along (user ids are fixed-width here,
    # so no other id contains this one).
    assert user.encode() not in full.read_bytes()


def test_a_file_gone_during_the_search_holds_nothing(tmp_path: Path) -> None:
    """forget-user searches Dagster's home while Dagster may run beside it: SQLite's -shm file listed a moment
    before can be gone when it is opened (a CI run failed so), and an empty file cannot be mapped."""
    from interactions_etl.erasure import file_holds, files_holding

    assert file_holds(tmp_path / "index.db-shm", b"user_000640") is False
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "holds").write_bytes(b"..user_000640..")
    assert files_holding([tmp_path], b"user_000640") == [tmp_path / "holds"]
