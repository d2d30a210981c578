"""Issue 25: a server that holds a record twice (at-least-once event stores do) never blocks a day.

The emulator's store keeps whatever it is given, copies of one interaction_id included, and counts each copy in
its totals, as such a server does. Exact copies land once and the day commits, saying so; a copy with other
content is quarantined with its reason and the copy kept follows the documented rule; a record really missing
still refuses the day, naming the window and how many. Under cursor and offset paging alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from interactions_etl import warehouse
from interactions_etl.landing import LoadAuditError, LoadReport, load_day
from interactions_etl.warehouse import Location
from mixpeek_emulator.records import format_instant, to_micros
from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import DAY, fill, make_client, spread_over_day
from tests.reliability.misbehaving import MisbehavingProxy

RECORDS = 2500  # three pages of 1000
# Record 999 is the last of the first page and its exact copy, stored after it at the same timestamp, the first
# of the second: a copy that straddles a page boundary, as a repeated page would. 1500's copy is on its page.
EXACT = (999, 1500)
CONFLICTING = 2000  # held a second time with another position and a timestamp 2 s later: that copy is kept


def held_twice() -> list[dict[str, Any]]:
    records = spread_over_day(RECORDS)
    conflicting = {
        **records[CONFLICTING],
        "position": records[CONFLICTING]["position"] + 1,
        "timestamp": format_instant(to_micros(_stamp(records[CONFLICTING]) + timedelta(seconds=2))),
    }
    return [*records, *(dict(records[i]) for i in EXACT), conflicting]


def _stamp(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))


def rows(location: Location, sql: str) -> list[tuple[Any, ...]]:
    con = warehouse.connect(location, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def load(server: EmulatorServer, location: Location) -> LoadReport:
    with make_client(server) as client:
        return load_day(client, location, DAY, "run-copies", sub_windows=1)


@pytest.fixture(params=["file", "ducklake"])
def new_location(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Location]:
    """`new_location()`: an empty warehouse on each backend, a DuckDB file, then a DuckLake."""
    if request.param == "ducklake":
        return request.getfixturevalue("new_lake")
    count = iter(range(100))
    return lambda: tmp_path / f"warehouse-{next(count)}.duckdb"


@pytest.mark.parametrize("cursors", [True, False], ids=["cursor", "offset"])
def test_records_the_server_holds_twice_land_once_and_the_day_commits(
    make_server, new_location: Callable[[], Location], cursors: bool
) -> None:  # type: ignore[no-untyped-def]
    server = make_server(cursor_pagination=cursors)
    fill(server, held_twice())
    path = new_location()
    report = load(server, path)
    assert report.paging_mode == ("cursor" if cursors else "offset")
    assert report.server_total == RECORDS + 3
    assert (report.rows, report.received, report.source_duplicates) == (RECORDS, RECORDS, 3)
    assert report.conflicting_copies == 1 and report.rejected == 0 and not report.count_disagrees
    assert rows(path, "SELECT count(*), count(DISTINCT interaction_id) FROM raw.interactions") == [
        (RECORDS, RECORDS)
    ]
    # The conflicting id keeps its newer copy; the older one waits in the quarantine with the reason.
    target = spread_over_day(RECORDS)[CONFLICTING]
    kept = rows(
        path, f"SELECT position FROM raw.interactions WHERE interaction_id = '{target['interaction_id']}'"
    )
    assert kept == [(target["position"] + 1,)]
    quarantined = rows(path, "SELECT interaction_id, reason, raw_json FROM raw.rejected_interactions")
    assert len(quarantined) == 1 and quarantined[0][0] == target["interaction_id"]
    assert quarantined[0][1].startswith("a conflicting copy") and "newest timestamp" in quarantined[0][1]
    assert orjson.loads(quarantined[0][2])["position"] == target["position"]
    # A re-run gives the same tables.
    before = rows(path, "SELECT * EXCLUDE (loaded_at, run_id) FROM raw.interactions ORDER BY ALL")
    again = load(server, path)
    assert again.source_duplicates == 3
    assert rows(path, "SELECT * EXCLUDE (loaded_at, run_id) FROM raw.interactions ORDER BY ALL") == before
    assert rows(path, "SELECT count(*) FROM raw.rejected_interactions") == [(1,)]


@pytest.mark.parametrize("cursors", [True, False], ids=["cursor", "offset"])
def test_a_record_really_missing_beside_copies_still_refuses_the_day(
    make_server, tmp_path: Path, cursors: bool
) -> None:  # type: ignore[no-untyped-def]
    """A server holding copies that also never sends one record: the copies are told apart from the loss, and
    the day is refused for the one record missing, its window named."""
    server = make_server(cursor_pagination=cursors)
    fill(server, held_twice())
    lost = spread_over_day(RECORDS)[10]["interaction_id"]

    def drop_one(_number: int, body: dict[str, Any]) -> bytes | None:
        kept = [r for r in body.get("results") or [] if r.get("interaction_id") != lost]
        return orjson.dumps({**body, "results": kept, "items": kept})

    proxy = EmulatorServer(MisbehavingProxy(server.base_url, drop_one)).start()  # type: ignore[arg-type]
    try:
        path = tmp_path / "warehouse.duckdb"
        with pytest.raises(LoadAuditError) as failure:
            load(proxy, path)
    finally:
        proxy.stop()
    message = str(failure.value)
    assert (
        f"{RECORDS - 1:,} distinct records fetched and 3 more copies of records the server holds more than once, "
        f"the server reports {RECORDS + 3:,}: 1 record missing"
    ) in message, message
    assert "(00:00-24:00: " not in message  # one leaf window: the day's figures are the window's
    assert "the day was not changed" in message
    assert rows(path, "SELECT count(*) FROM raw.interactions") == [(0,)]


def test_a_record_held_in_two_days_keeps_its_newest_copy_whatever_the_order_of_the_loads(  # type: ignore[no-untyped-def]
    server, new_location: Callable[[], Location]
) -> None:
    """The server re-sent a record a day later (same id, a later timestamp): each day lands, the newest copy is
    kept in its day and the older one waits in its own day's quarantine, whichever day is loaded first; the
    older day's event day is logged for staging to rebuild."""
    next_day = DAY + timedelta(days=1)
    first, second = spread_over_day(300), spread_over_day(300, next_day, start_index=1000)
    resent = {**first[7], "timestamp": second[0]["timestamp"], "position": 9}
    fill(server, [*first, *second, resent])
    reason = f"a conflicting copy: the same interaction_id landed in {next_day} with the newer timestamp"

    def state(path: Location) -> list[Any]:
        return [
            rows(
                path,
                "SELECT partition_date, count(*), count(DISTINCT interaction_id) FROM raw.interactions GROUP BY 1 ORDER BY 1",
            ),
            rows(
                path,
                f"SELECT partition_date, position FROM raw.interactions WHERE interaction_id = '{resent['interaction_id']}'",
            ),
            rows(
                path,
                "SELECT partition_date, interaction_id, reason FROM raw.rejected_interactions ORDER BY ALL",
            ),
        ]

    ends = []
    for order in ([DAY, next_day, DAY], [next_day, DAY]):
        path = new_location()
        with make_client(server) as client:
            reports = [load_day(client, path, day, f"run-{i}", sub_windows=1) for i, day in enumerate(order)]
        assert reports[1].copies_across_days == 1 and reports[1].duplicate_rows == 0
        ends.append(state(path))
        logged = rows(
            path, f"SELECT DISTINCT event_date FROM raw.changed_event_dates WHERE partition_date = '{DAY}'"
        )
        assert (DAY,) in logged
    assert ends[0] == ends[1]
    per_day, kept, quarantined = ends[0]
    assert per_day == [(DAY, 299, 299), (next_day, 301, 301)]
    assert kept == [(next_day, 9)]
    assert len(quarantined) == 1 and quarantined[0][:2] == (DAY, resent["interaction_id"])
    assert quarantined[0][2].startswith(reason), quarantined[0][2]
