"""The staging layer on a hand-built day: every expected value is worked out here, not read from the output."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import duckdb
import orjson
import pandas as pd
import pytest

from interactions_etl import warehouse
from interactions_etl.staging import StagingSettings, refresh_staging

DAY = date(2026, 10, 5)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(
    n: int, execution: str | None, when: str, types: list[str], position: int, feature: str, **extra: Any
) -> dict:
    """One raw row; `recorded` (timestamp) defaults to the event time, `occurred` marks a backfill."""
    recorded = extra.pop("recorded", None)
    occurred = extra.pop("occurred", None)
    metadata = {"device": extra.pop("device", "mobile"), **extra.pop("metadata", {})}
    row = {
        "interaction_id": f"int_{n:04d}",
        "feature_id": feature,
        "interaction_type": types,
        "position": position,
        "metadata": orjson.dumps(metadata).decode(),
        "user_id": extra.pop("user", "u1"),
        "session_id": extra.pop("session", "s1"),
        "execution_id": execution,
        "retriever_id": extra.pop("retriever", "r1"),
        "query_snapshot": orjson.dumps({"text": extra.pop("query", "red shoes")}).decode(),
        "document_score": 0.5,
        "result_set_size": extra.pop("result_set_size", 10),
        "feature_uri": None,
        "occurred_at": at(occurred) if occurred else None,
        "timestamp": at(recorded or when if not occurred else recorded),
        "deduplicated": False,
        "warning": None,
        "extra": None,
    }
    assert not extra, extra
    return row


def land(con: duckdb.DuckDBPyConnection, rows: list[dict], run_id: str) -> None:
    """What a raw load does: insert the rows per recorded day, and log the event days they touch."""
    warehouse.ensure_raw_tables(con)
    frame = pd.DataFrame(rows)
    frame["partition_date"] = [r["timestamp"].date() for r in rows]
    frame["loaded_at"] = datetime.now(UTC)
    frame["run_id"] = run_id
    con.register("fixture_rows", frame)
    con.execute("INSERT INTO raw.interactions BY NAME SELECT * FROM fixture_rows")
    con.unregister("fixture_rows")
    for partition in sorted(set(frame["partition_date"])):
        warehouse.run(con, "raw/log_changed_event_dates", partition_date=partition, run_id=run_id,
                      loaded_at=datetime.now(UTC))  # fmt: skip


# E1: a tracked mobile search with a skip, a short click that bounces, then a long click that converts.
E1 = [
    event(1, "e1", "2026-10-05 10:00:00", ["impression"], 0, "d0"),
    event(2, "e1", "2026-10-05 10:00:00", ["impression"], 1, "d1"),
    event(3, "e1", "2026-10-05 10:00:00", ["impression"], 2, "d2"),
    event(4, "e1", "2026-10-05 10:00:00", ["impression"], 3, "d3"),
    event(5, "e1", "2026-10-05 10:00:04", ["skip"], 1, "d1"),
    event(6, "e1", "2026-10-05 10:00:05", ["click"], 2, "d2"),
    event(7, "e1", "2026-10-05 10:00:09", ["dwell"], 2, "d2", metadata={"duration_ms": 4000}),
    event(8, "e1", "2026-10-05 10:00:09.200", ["return_to_results"], 2, "d2"),
    event(9, "e1", "2026-10-05 10:00:15", ["click"], 0, "d0"),
    event(10, "e1", "2026-10-05 10:01:00", ["long_view"], 0, "d0", metadata={"duration_ms": 45000}),
    event(11, "e1", "2026-10-05 10:01:10", ["add_to_cart"], 0, "d0"),
    event(
        12,
        "e1",
        "2026-10-05 10:05:00",
        ["purchase"],
        0,
        "d0",
        metadata={"order_value": 20.0, "currency": "usd"},
    ),
]
# E2: the same session searches again two minutes later, clicks nothing, and refines the query.
E2 = [
    event(20, "e2", "2026-10-05 10:02:00", ["impression"], 0, "d5", device="desktop", query="red shoe"),
    event(21, "e2", "2026-10-05 10:02:00", ["impression"], 1, "d6", device="desktop", query="red shoe"),
    event(22, "e2", "2026-10-05 10:03:00", ["query_refinement"], 0, "d5", device="desktop", query="red shoe"),
]
# E3: a search with no results.
E3 = [event(30, "e3", "2026-10-05 11:00:00", ["zero_results"], 0, "none", session="s3", result_set_size=0)]
# E4: a legacy client that sends no impressions: one click at rank 4 with a long view.
E4 = [event(40, "e4", "2026-10-05 12:00:05", ["click", "long_view"], 3, "d9", session="s4", retriever="r2",
            metadata={"duration_ms": 40000})]  # fmt: skip
# E5: a search just before midnight whose click lands just after it.
E5 = [
    event(50, "e5", "2026-10-04 23:59:50", ["impression"], 0, "d7", session="s5"),
    event(51, "e5", "2026-10-05 00:00:10", ["click"], 0, "d7", session="s5"),
]


@pytest.fixture
def con(location: warehouse.Location) -> duckdb.DuckDBPyConnection:
    connection = warehouse.connect(location)
    land(connection, E1 + E2 + E3 + E4 + E5, "run-1")
    refresh_staging(connection)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_interaction_events_explode_types_and_use_event_time(con) -> None:
    # 12 + 3 + 1 + 1 + 2 records, one of them with two types: 20 rows.
    assert rows(con, "SELECT count(*) FROM staging.interaction_events") == [(20,)]
    assert rows(
        con,
        "SELECT interaction_type FROM staging.interaction_events WHERE interaction_id = 'int_0040' ORDER BY 1",
    ) == [("click",), ("long_view",)]
    assert rows(con, "SELECT event_date, rank, device, query_text, currency, order_value FROM staging.interaction_events"
                     " WHERE interaction_id = 'int_0012'") == [(DAY, 1, "mobile", "red shoes", "USD", 20.0)]  # fmt: skip


def test_search_executions(con) -> None:
    got = {r[0]: r[1:] for r in rows(con, """
        SELECT execution_id, execution_date, tracked, impressions, clicks, first_click_position, last_click_position,
               conversions, converted, zero_results, refined, returned, device, retriever_id
        FROM staging.search_executions""")}  # fmt: skip
    assert got == {
        "e1": (DAY, True, 4, 2, 0, 2, 2, True, False, False, True, "mobile", "r1"),
        # e2 is refined (its own refinement, 1 minute later); e1 is not: the refinement came after e2 started.
        "e2": (DAY, True, 2, 0, None, None, 0, False, False, True, False, "desktop", "r1"),
        "e3": (DAY, False, 0, 0, None, None, 0, False, True, False, False, "mobile", "r1"),
        "e4": (DAY, False, 0, 1, 3, 3, 0, False, False, False, False, "mobile", "r2"),
        "e5": (date(2026, 10, 4), True, 1, 1, 0, 0, 0, False, False, False, False, "mobile", "r1"),
    }


def test_result_slots(con) -> None:
    got = {(r[0], r[1]): r[2:] for r in rows(con, """
        SELECT execution_id, position, feature_id, slot_basis, clicked, converted, explicit_skip, skipped_above,
               returned_to_results, pogo_sticked, dwell_ms, short_dwell, long_dwell
        FROM staging.result_slots""")}  # fmt: skip
    assert got == {
        ("e1", 0): ("d0", "shown", True, True, False, False, False, False, 45000, False, True),
        ("e1", 1): ("d1", "shown", False, False, True, True, False, False, None, False, False),
        # the bounce at rank 3 is followed by the click on rank 1: pogo-sticking; 4 s is a short dwell
        ("e1", 2): ("d2", "shown", True, False, False, False, True, True, 4000, True, False),
        ("e1", 3): ("d3", "shown", False, False, False, False, False, False, None, False, False),
        ("e2", 0): ("d5", "shown", False, False, False, False, False, False, None, False, False),
        ("e2", 1): ("d6", "shown", False, False, False, False, False, False, None, False, False),
        # no impressions: the cascade fallback says ranks 1-4 were examined; the documents above are unknown
        ("e4", 0): (None, "examined", False, False, False, True, False, False, None, False, False),
        ("e4", 1): (None, "examined", False, False, False, True, False, False, None, False, False),
        ("e4", 2): (None, "examined", False, False, False, True, False, False, None, False, False),
        ("e4", 3): ("d9", "examined", True, False, False, False, False, False, 40000, False, True),
        ("e5", 0): ("d7", "shown", True, False, False, False, False, False, None, False, False),
    }


def test_dwell_thresholds_are_settings(location: warehouse.Location) -> None:
    connection = warehouse.connect(location)
    land(connection, E1, "run-1")
    refresh_staging(connection, StagingSettings(short_dwell_ms=3000, long_dwell_ms=50_000))
    flags = rows(
        connection,
        "SELECT position, short_dwell, long_dwell FROM staging.result_slots WHERE clicked ORDER BY 1",
    )
    connection.close()
    assert flags == [
        (0, False, True),
        (2, False, False),
    ]  # 45 s is not long at 50 s but long_view still counts


def test_a_late_event_recomputes_its_day_and_nothing_else(con) -> None:
    before_e5 = rows(con, "SELECT * FROM staging.search_executions WHERE execution_id = 'e5'")
    # A purchase of d2 (from e1) that happened at 10:20 on the 5th, delivered on the 7th with occurred_at.
    late = event(60, "e1", "2026-10-05 10:20:00", ["purchase"], 2, "d2", occurred="2026-10-05 10:20:00",
                 recorded="2026-10-07 08:00:00")  # fmt: skip
    land(con, [late], "run-2")
    report = refresh_staging(con)
    assert report.changed_days == [DAY]
    assert report.execution_days == [date(2026, 10, 4), DAY, date(2026, 10, 6)]
    assert rows(con, "SELECT conversions FROM staging.search_executions WHERE execution_id = 'e1'") == [(3,)]
    assert rows(
        con, "SELECT converted FROM staging.result_slots WHERE execution_id = 'e1' AND position = 2"
    ) == [(True,)]
    assert rows(
        con,
        "SELECT is_backfilled, recorded_at FROM staging.interaction_events WHERE interaction_id = 'int_0060'",
    ) == [(True, at("2026-10-07 08:00:00"))]
    assert rows(con, "SELECT * FROM staging.search_executions WHERE execution_id = 'e5'") == before_e5
    assert rows(con, "SELECT count(*), count(DISTINCT execution_id) FROM staging.search_executions") == [
        (5, 5)
    ]


def test_a_refresh_with_nothing_new_changes_nothing(con) -> None:
    snapshot = {
        t: rows(con, f"SELECT * FROM staging.{t} ORDER BY ALL")
        for t in ("interaction_events", "search_executions", "result_slots")
    }
    report = refresh_staging(con)
    assert report.changed_days == []
    assert {t: rows(con, f"SELECT * FROM staging.{t} ORDER BY ALL") for t in snapshot} == snapshot


def test_a_full_refresh_rebuilds_the_same_tables(con) -> None:
    snapshot = {
        t: rows(con, f"SELECT * FROM staging.{t} ORDER BY ALL")
        for t in ("interaction_events", "search_executions", "result_slots")
    }
    con.execute("DELETE FROM staging.result_slots")
    refresh_staging(con, full=True)
    assert {t: rows(con, f"SELECT * FROM staging.{t} ORDER BY ALL") for t in snapshot} == snapshot


def test_a_load_that_commits_after_a_later_one_is_still_refreshed(location: warehouse.Location) -> None:
    """Parallel loads on a lake: load A stamps loaded_at when it starts, load B starts later and commits first,
    a refresh absorbs B, then A commits. A watermark on loaded_at (the newest absorbed, B's) would skip A's
    day forever; the staging layer tracks loads by key, so A's day is rebuilt by the next refresh."""
    con = warehouse.connect(location)
    warehouse.ensure_raw_tables(con)
    a_started, b_started = at("2026-10-07 02:00:00"), at("2026-10-07 02:00:05")

    def commit_load(rows: list[dict], run_id: str, loaded_at: datetime) -> None:
        frame = pd.DataFrame(rows)
        frame["partition_date"] = [r["timestamp"].date() for r in rows]
        frame["loaded_at"], frame["run_id"] = loaded_at, run_id
        con.register("fixture_rows", frame)
        con.execute("INSERT INTO raw.interactions BY NAME SELECT * FROM fixture_rows")
        con.unregister("fixture_rows")
        for partition in sorted(set(frame["partition_date"])):
            warehouse.run(con, "raw/log_changed_event_dates", partition_date=partition, run_id=run_id,
                          loaded_at=loaded_at)  # fmt: skip

    later_day = [event(900, "e9", "2026-10-06 09:00:00", ["impression"], 0, "d0")]
    commit_load(later_day, "load-b", b_started)
    first = refresh_staging(con)
    assert first.changed_days == [date(2026, 10, 6)]
    commit_load(E1, "load-a", a_started)  # began before B, commits after the refresh
    second = refresh_staging(con)
    assert second.changed_days == [DAY]
    assert con.execute(
        "SELECT count(*) FROM staging.interaction_events WHERE event_date = ?", [DAY]
    ).fetchone()[0] == len(E1)
    assert refresh_staging(con).changed_days == []  # and absorbed once


def test_an_execution_whose_events_disagree_takes_the_earliest_events_values(
    location: warehouse.Location,
) -> None:
    """Trust no input: one execution_id sent with two sessions, users and devices. The earliest event's values
    win (ties by interaction_id), in whatever order the rows were landed, so a re-run gives the same table."""
    early = [event(1, "e9", "2026-10-05 10:00:00", ["impression"], 0, "d0", session="s-early", user="u-early",
                   device="desktop")]  # fmt: skip
    late = [
        event(
            n,
            "e9",
            "2026-10-05 10:00:05",
            ["impression"],
            n - 1,
            f"d{n - 1}",
            session="s-late",
            user="u-late",
        )
        for n in range(2, 6)
    ]
    con = warehouse.connect(location)
    try:
        land(con, late, "run-late-first")  # the later events landed (and stored) first
        land(con, early, "run-early")
        refresh_staging(con)
        picked = con.execute(
            "SELECT session_id, user_id, device FROM staging.search_executions WHERE execution_id = 'e9'"
        ).fetchall()
        slots = con.execute(
            "SELECT DISTINCT device FROM staging.result_slots WHERE execution_id = 'e9'"
        ).fetchall()
    finally:
        con.close()
    assert picked == [("s-early", "u-early", "desktop")]
    assert slots == [("desktop",)]
