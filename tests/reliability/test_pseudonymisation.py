"""Optional pseudonymisation of user ids at landing: a keyed hash, the key from the environment."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from interactions_etl import warehouse
from interactions_etl.erasure import forget_user
from interactions_etl.landing import load_day
from interactions_etl.privacy import Pseudonymiser
from mixpeek_emulator.faults import FaultConfig
from tests.pipeline.conftest import DAY, fill, make_client, spread_over_day

KEY = "pseudonym-key-for-tests-0b9d"


def test_every_user_id_is_replaced_in_any_json() -> None:
    p = Pseudonymiser(KEY)
    alice = p.pseudonym("alice")
    assert alice == p.pseudonym("alice") != Pseudonymiser("another key").pseudonym("alice")
    assert alice.startswith("u_") and len(alice) == 34
    line = b'{"user_id": "alice", "metadata": {"user_id":"bob"}, "session_id": "alice-session"}'
    assert p.apply(line) == (
        b'{"user_id": "' + alice.encode() + b'", "metadata": {"user_id":"' + p.pseudonym("bob").encode()
        + b'"}, "session_id": "alice-session"}'
    )  # fmt: skip
    assert p.apply(b'{"user_id": "a\\"b"}') == b'{"user_id": "' + p.pseudonym('a"b').encode() + b'"}'
    assert p.apply(b'{"user_id": null, "position": 1}') == b'{"user_id": null, "position": 1}'
    assert (
        p.apply(b'{"user_id": "alice", "position": "oops')
        == b'{"user_id": "' + alice.encode() + b'", "position": "oops'
    )
    assert KEY not in repr(p)
    with pytest.raises(ValueError):
        Pseudonymiser("")


def load(make_server, path: Path, pseudonymiser: Pseudonymiser | None) -> None:  # type: ignore[no-untyped-def]
    server = make_server(faults=FaultConfig(malformed_rate=0.5, scope="list", seed=3))
    fill(server, spread_over_day(2000))  # users user_0 .. user_6
    with make_client(server) as client:
        load_day(client, str(path), DAY, "run-1", sub_windows=1, pseudonymiser=pseudonymiser)
    con = duckdb.connect(str(path))
    con.execute("CHECKPOINT")
    con.close()


def test_loads_land_pseudonyms_only_and_forget_user_still_finds_them(make_server, tmp_path: Path) -> None:
    ids = [f"user_{k}".encode() for k in range(7)]
    plain = tmp_path / "plain.duckdb"
    load(make_server, plain, None)
    assert all(i in plain.read_bytes() for i in ids)  # the control: without the key, ids are on disk
    hidden = tmp_path / "hidden.duckdb"
    p = Pseudonymiser(KEY)
    load(make_server, hidden, p)
    con = warehouse.connect(hidden, read_only=True)
    users = dict(con.execute("SELECT user_id, count(*) FROM raw.interactions GROUP BY ALL").fetchall())
    rejected = [r[0] for r in con.execute("SELECT raw_json FROM raw.rejected_interactions").fetchall()]
    con.close()
    assert set(users) == {p.pseudonym(f"user_{k}") for k in range(7)}
    assert rejected and not any(f'"user_{k}"' in r for r in rejected for k in range(7))  # quarantine too
    assert not any(i in hidden.read_bytes() for i in ids)
    assert KEY.encode() not in hidden.read_bytes()

    con = warehouse.connect(hidden)
    erased = forget_user(con, "user_3", pseudonymiser=Pseudonymiser(KEY))  # the id as the API knows it
    left = con.execute(
        "SELECT count(*) FROM raw.interactions WHERE user_id = ?", [p.pseudonym("user_3")]
    ).fetchall()
    con.close()
    assert erased.interactions == users[p.pseudonym("user_3")] and left == [(0,)]
