"""Landing a day into DuckDB, over real HTTP against the emulator, into real DuckDB files."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from interactions_etl.landing import load_day
from interactions_etl.mixpeek.client import RetryPolicy
from interactions_etl.mixpeek.errors import MixpeekApiError
from mixpeek_emulator.faults import FaultConfig
from tests.pipeline.conftest import DAY, fill, make_client, record, spread_over_day

COMPARABLE = "* EXCLUDE (loaded_at, run_id)"


def table(
    path: Path, sql: str = f"SELECT {COMPARABLE} FROM raw.interactions ORDER BY interaction_id"
) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_busy_day_lands_completely_by_cursor(server, tmp_path: Path) -> None:
    fill(server, spread_over_day(12_345))
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        report = load_day(client, str(warehouse), DAY, "run-1")
    assert report.rows == report.fetched == report.server_total == 12_345
    assert report.paging_mode == "cursor"
    assert server.emulator.stats.max_offset_requested == 0
    assert table(
        warehouse,
        "SELECT count(DISTINCT interaction_id), min(partition_date), max(partition_date) FROM raw.interactions",
    ) == [(12_345, DAY, DAY)]


def test_a_server_without_cursors_is_paged_by_offset_never_past_10000(make_server, tmp_path: Path) -> None:
    server = make_server(cursor_pagination=False)
    fill(server, spread_over_day(23_456))
    with make_client(server) as client:
        report = load_day(client, str(tmp_path / "w.duckdb"), DAY, "run-1", sub_windows=1)
    assert report.rows == 23_456 and report.paging_mode == "offset"
    assert report.splits >= 1  # the day held more than offset 10000 can reach
    assert 0 < server.emulator.stats.max_offset_requested <= 10_000


def test_every_field_is_typed(server, tmp_path: Path) -> None:
    at = datetime(2026, 10, 5, 8, 30, 15, 123456, tzinfo=UTC)
    fill(
        server,
        [
            record(
                3,
                at,
                occurred_at="2026-10-02T07:00:00.000000Z",
                metadata={"device": "desktop", "duration_ms": 31000},
            )
        ],
    )
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        load_day(client, str(warehouse), DAY, "run-typed")
    con = duckdb.connect(str(warehouse), read_only=True)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'interactions'"
        ).fetchall()
    )
    row = con.execute(
        "SELECT interaction_type, position, metadata->>'device', (metadata->>'duration_ms')::INT, query_snapshot->>'text',"
        ' occurred_at, "timestamp", partition_date, run_id FROM raw.interactions'
    ).fetchone()
    con.close()
    assert (
        types["interaction_type"] == "VARCHAR[]"
        and types["metadata"] == "JSON"
        and types["query_snapshot"] == "JSON"
    )
    assert (
        types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
        and types["occurred_at"] == "TIMESTAMP WITH TIME ZONE"
    )
    assert row[0] == ["click", "long_view"] and row[1] == 3 and row[2] == "desktop" and row[3] == 31000
    assert row[4] == "shoes" and row[5] == datetime(2026, 10, 2, 7, tzinfo=UTC) and row[6] == at
    assert row[7] == DAY and row[8] == "run-typed"


def test_a_rerun_leaves_the_table_identical(server, tmp_path: Path) -> None:
    fill(server, spread_over_day(3000))
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        load_day(client, str(warehouse), DAY, "run-1")
        first = table(warehouse)
        load_day(client, str(warehouse), DAY, "run-2")
    assert table(warehouse) == first and len(first) == 3000
    assert table(warehouse, "SELECT DISTINCT run_id FROM raw.interactions") == [("run-2",)]


def test_midnight_utc_splits_partitions(server, tmp_path: Path) -> None:
    midnight = datetime(2026, 10, 6, tzinfo=UTC)
    before = [record(i, midnight - timedelta(microseconds=1 + i)) for i in range(5)]
    after = [record(100 + i, midnight + timedelta(microseconds=i)) for i in range(5)]
    fill(server, before + after)
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        load_day(client, str(warehouse), DAY, "run-1")  # 2026-10-05
        load_day(client, str(warehouse), DAY + timedelta(days=1), "run-1")
    rows = table(warehouse, "SELECT partition_date, count(*) FROM raw.interactions GROUP BY 1 ORDER BY 1")
    assert rows == [(DAY, 5), (DAY + timedelta(days=1), 5)]
    exact = table(
        warehouse,
        "SELECT count(*) FROM raw.interactions WHERE partition_date = '2026-10-06' AND \"timestamp\" = TIMESTAMPTZ '2026-10-06 00:00:00+00'",
    )
    assert exact == [(1,)]  # an event at 00:00:00.000000 belongs to the new day


def test_throttling_and_errors_are_retried_and_reported(make_server, tmp_path: Path) -> None:
    server = make_server(faults=FaultConfig(script=["429", "503", "ok", "500"], retry_after_seconds=0.05))
    fill(server, spread_over_day(4500))
    with make_client(server) as client:
        report = load_day(client, str(tmp_path / "w.duckdb"), DAY, "run-1")
    assert report.rows == 4500
    assert report.retries == 3 and report.throttled == 1


def test_malformed_records_are_quarantined_and_the_rest_land(make_server, tmp_path: Path) -> None:
    server = make_server(faults=FaultConfig(script=["malformed", "ok", "malformed"], seed=4))
    fill(server, spread_over_day(3000))
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        report = load_day(client, str(warehouse), DAY, "run-1", sub_windows=1)
    assert report.rejected == 2 and report.rows == 2998 and report.fetched == 3000
    rejected = table(warehouse, "SELECT partition_date, reason, raw_json FROM raw.rejected_interactions")
    assert len(rejected) == 2 and all(r[0] == DAY and r[1] and r[2].startswith("{") for r in rejected)


def test_duplicates_across_pages_land_once(make_server, tmp_path: Path) -> None:
    server = make_server(faults=FaultConfig(duplicate_rate=1.0))
    fill(server, spread_over_day(2500))
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        report = load_day(client, str(warehouse), DAY, "run-1", sub_windows=1)
    assert report.rows == 2500 and report.duplicates == 3  # one extra copy on each of the 3 pages
    assert table(warehouse, "SELECT count(*) - count(DISTINCT interaction_id) FROM raw.interactions") == [
        (0,)
    ]


def test_a_failed_run_leaves_the_warehouse_as_it_was(make_server, tmp_path: Path) -> None:
    server = make_server()
    fill(server, spread_over_day(2500))
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        load_day(client, str(warehouse), DAY, "run-good")
    before = table(warehouse)
    fill(server, spread_over_day(100, start_index=10_000))  # new data that would change the partition
    server.emulator.faults.configure(FaultConfig(script=["ok", "ok"] + ["500"] * 10))
    with make_client(server, retry=RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0)) as client:
        with pytest.raises(MixpeekApiError):
            load_day(client, str(warehouse), DAY, "run-bad", sub_windows=1)
    assert table(warehouse) == before


def test_records_inserted_while_paging_are_caught_by_the_rerun(server, tmp_path: Path) -> None:
    """Loading today while events arrive: the next (lookback) run lands each exactly once."""
    import time

    import httpx

    now = datetime.now(UTC)
    if now - now.replace(hour=0, minute=0, second=0, microsecond=0) < timedelta(seconds=30):
        time.sleep(30)  # keep the seeded records and the writer's on the same UTC day
    today = datetime.now(UTC).date()
    store = server.emulator.stores[next(iter(server.emulator.stores))]
    fill(server, [record(i, datetime.now(UTC) - timedelta(seconds=1 + i * 0.001)) for i in range(5000)])
    stop = threading.Event()

    def writer() -> None:
        from tests.pipeline.conftest import API_KEY, NAMESPACE

        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}", "X-Namespace": NAMESPACE}
        ) as w:
            i = 0
            while not stop.is_set():
                body = {
                    "interactions": [
                        {"feature_id": f"doc_{i}_{j}", "interaction_type": ["click"], "position": j}
                        for j in range(10)
                    ]
                }
                w.post("/v1/retrievers/interactions/batch", json=body).raise_for_status()
                i += 1

    thread = threading.Thread(target=writer)
    warehouse = tmp_path / "w.duckdb"
    thread.start()
    try:
        with make_client(server) as client:
            load_day(client, str(warehouse), today, "run-during", page_size=200)
    finally:
        stop.set()
        thread.join()
    during = table(warehouse, "SELECT count(*), count(DISTINCT interaction_id) FROM raw.interactions")[0]
    assert during[0] == during[1] >= 5000
    with make_client(server) as client:
        report = load_day(client, str(warehouse), today, "run-lookback")
    server_ids = {
        r.data["interaction_id"]
        for r in store._records.values()
        if datetime.fromtimestamp(r.ts_us / 1e6, UTC).date() == today
    }
    landed = {row[0] for row in table(warehouse, "SELECT interaction_id FROM raw.interactions")}
    assert landed == server_ids and report.rows == len(server_ids) > during[0]


def test_new_fields_and_types_are_kept_and_missing_optionals_are_fine(server, tmp_path: Path) -> None:
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    newer = record(
        1, at, interaction_type=["click", "hover_preview"], sentiment={"score": 0.8}
    )  # from a newer API
    minimal = {  # an older server: only the required fields and the system ones
        "interaction_id": "int_minimal",
        "feature_id": "doc_x",
        "interaction_type": ["IMPRESSION"],
        "position": 4,
        "timestamp": "2026-10-05T13:00:00Z",
    }
    fill(server, [newer, minimal])
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        report = load_day(client, str(warehouse), DAY, "run-1")
    assert report.rows == 2 and report.rejected == 0
    assert report.unknown_types == {"hover_preview": 1}
    rows = table(
        warehouse,
        "SELECT interaction_id, interaction_type, extra->>'$.sentiment.score', metadata, warning, deduplicated"
        " FROM raw.interactions ORDER BY interaction_id",
    )
    assert rows[0] == ("int_000000000000000000000001", ["click", "hover_preview"], "0.8",
                       '{"device":"mobile","reward_value":0.0}', None, False)  # fmt: skip
    assert rows[1] == ("int_minimal", ["impression"], None, None, None, None)


def test_a_load_logs_the_event_days_it_touched(server, tmp_path: Path) -> None:
    on_time = record(1, datetime(2026, 10, 5, 9, tzinfo=UTC))
    late = record(2, datetime(2026, 10, 5, 10, tzinfo=UTC), occurred_at="2026-10-02T10:00:00.000000Z")
    fill(server, [on_time, late])
    warehouse = tmp_path / "w.duckdb"
    with make_client(server) as client:
        load_day(client, str(warehouse), DAY, "run-1")
        assert table(warehouse, "SELECT DISTINCT event_date FROM raw.changed_event_dates ORDER BY 1") == [
            (date(2026, 10, 2),),
            (DAY,),
        ]
        # The late record disappears upstream (erased): the reload logs its old day again, so staging rebuilds it.
        server.emulator.stores[next(iter(server.emulator.stores))].delete(late["interaction_id"])
        load_day(client, str(warehouse), DAY, "run-2")
    assert table(
        warehouse, "SELECT DISTINCT event_date FROM raw.changed_event_dates WHERE run_id = 'run-2' ORDER BY 1"
    ) == [
        (date(2026, 10, 2),),
        (DAY,),
    ]
