"""Issue 29: erasure of quarantined records is exact. Each quarantined record carries the user_id parsed when it
was quarantined, and erasure deletes by that column alone: a user id equal to another record's device, or
written escaped in the JSON, or holding JSON's own quote and backslash, erases exactly that user's records. On
both backends, quarantined through a real load (a proxy breaks their records), and for quarantines an older
release wrote without the column."""

from __future__ import annotations

from typing import Any

import orjson

from interactions_etl import warehouse
from interactions_etl.erasure import forget_user
from interactions_etl.landing import load_day
from interactions_etl.warehouse import Location
from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import DAY, fill, make_client, spread_over_day
from tests.reliability.misbehaving import MisbehavingProxy

DEVICE = "mobile"  # every record's metadata.device, and user A's id
USERS = {
    "A": DEVICE,
    "B": "zo\u00eb",  # sent escaped inside a record whose JSON does not parse (a lone surrogate beside it)
    "C": 'q"x\\y',  # JSON's quote and backslash
    "D": "user_d",  # a record naming every other id in other fields
}
BROKEN = {"A": 3, "B": 5, "C": 7, "D": 9}  # the record of each user the proxy breaks


def records() -> list[dict[str, Any]]:
    rows = spread_over_day(40)
    for name, index in BROKEN.items():
        rows[index]["user_id"] = USERS[name]
        rows[index + 20]["user_id"] = USERS[name]  # and one that lands
    rows[BROKEN["D"]]["metadata"] = {
        "device": DEVICE,
        "note": USERS["B"],
        "tag": USERS["C"],
        "who": USERS["A"],
    }
    return rows


def break_records(_number: int, body: dict[str, Any]) -> bytes | None:
    """A position that is no integer for A, C and D (the JSON parses, validation refuses it); a lone surrogate
    for B, which makes the page's JSON readable only by Python's parser: B's record then travels ASCII-escaped."""
    every = records()
    broken = {every[i]["interaction_id"] for i in BROKEN.values()}
    for record in body.get("results") or []:
        if record["interaction_id"] in broken:
            if record["user_id"] == USERS["B"]:
                record["metadata"] = {**(record.get("metadata") or {}), "bad": "__SURROGATE__"}
            else:
                record["position"] = "oops"
    body.pop("items", None)
    return orjson.dumps(body).replace(b'"__SURROGATE__"', b'"x\\ud800y"')


def quarantined(location: Location) -> list[tuple[Any, ...]]:
    con = warehouse.connect(location, read_only=True)
    try:
        return con.execute(
            "SELECT user_id, raw_json FROM raw.rejected_interactions ORDER BY raw_json"
        ).fetchall()
    finally:
        con.close()


def landed_users(location: Location) -> list[str]:
    con = warehouse.connect(location, read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT user_id FROM raw.interactions ORDER BY ALL").fetchall()]
    finally:
        con.close()


def test_erasure_deletes_exactly_the_users_quarantined_records(make_server, location: Location) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    fill(server, records())
    proxy = EmulatorServer(MisbehavingProxy(server.base_url, break_records)).start()  # type: ignore[arg-type]
    try:
        with make_client(proxy) as client:
            report = load_day(client, location, DAY, "run-erasure", sub_windows=1, max_rejected_share=0.5)
    finally:
        proxy.stop()
    assert report.rejected == 4
    held = quarantined(location)
    assert sorted(user for user, _ in held) == sorted(USERS.values())
    escaped = next(text for user, text in held if user == USERS["B"])
    assert "zo\\u00eb" in escaped and USERS["B"] not in escaped  # stored escaped: a text match would miss it
    # Quarantines an older release wrote, without the column: one of A's, one naming A in another field.
    con = warehouse.connect(location)
    for text in (
        '{"user_id": "mobile", "position": "x"}',
        '{"user_id": "other", "metadata": {"device": "mobile"}',
    ):
        con.execute(
            "INSERT INTO raw.rejected_interactions (partition_date, interaction_id, reason, raw_json, loaded_at, "
            "run_id) VALUES (?, NULL, 'an older release', ?, now(), 'old')",
            [DAY, text],
        )
    con.close()

    expected_left = {user for user, _ in held} | {"other"}
    for name in ("A", "B", "C"):
        con = warehouse.connect(location)
        try:
            done = forget_user(con, USERS[name])
        finally:
            con.close()
        expected_left.discard(USERS[name])
        assert done.quarantined == (2 if name == "A" else 1), (
            name
        )  # A: the new record and the older release's
        assert done.interactions == 1, name
        left = quarantined(location)
        assert {user for user, _ in left} == expected_left, name
        assert USERS[name] not in landed_users(location)
    # D's record names A, B and C in other fields, and stays whole; so does the older row naming A's device.
    left = dict(quarantined(location))
    assert set(left) == {"user_d", "other"}
    assert all(f'"{DEVICE}"' in left[user] for user in left)
    assert orjson.loads(left["user_d"])["metadata"]["note"] == USERS["B"]
    assert landed_users(location).count("user_d") == 1 and len(landed_users(location)) == 40 - 4 - 3
