"""Erasing a user (Dagster-free): `interactions forget-user USER_ID`.

The user's rows leave raw (interactions and quarantine) in one transaction that also logs their event days;
the staging and mart refreshes then rebuild exactly those days, so every table is as if the user had never
been loaded. DuckDB frees the deleted blocks but does not overwrite them: `compact` rewrites the database into
a new file and swaps it in, so the bytes are gone from disk too. The API keeps its own copy: erase it there
(DELETE /v1/retrievers/interactions/{id}) before the next load brings it back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import warehouse
from pipelines.marts import MartsSettings, refresh_marts
from pipelines.privacy import pseudonymiser_from_env
from pipelines.staging import refresh_staging


@dataclass(frozen=True)
class Erasure:
    interactions: int
    quarantined: int
    days_rebuilt: int


def forget_user(con: duckdb.DuckDBPyConnection, user_id: str, marts: MartsSettings | None = None) -> Erasure:
    """Erase `user_id` as the API sends it; where loads pseudonymise (INTERACTIONS_PSEUDONYMISE_KEY), the
    warehouse holds the pseudonym, which is computed here from the same key."""
    if not user_id:
        raise ValueError("a user id is required")
    pseudonymiser = pseudonymiser_from_env()
    if pseudonymiser is not None:
        user_id = pseudonymiser.pseudonym(user_id)
    warehouse.ensure_raw_tables(con)
    con.execute("BEGIN TRANSACTION")
    try:
        warehouse.run(con, "raw/log_user_event_dates", user_id=user_id, run_id="forget-user",
                      loaded_at=datetime.now(UTC))  # fmt: skip
        interactions = warehouse.one(con, "raw/delete_user_interactions", user_id=user_id)[0]
        quarantined = warehouse.one(con, "raw/delete_user_rejected", user_id=user_id)[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    staged = refresh_staging(con)
    refresh_marts(con, marts)
    return Erasure(interactions, quarantined, len(staged.execution_days))


def compact(path: str | os.PathLike[str]) -> None:
    """Rewrite the database into a fresh file and replace the old one: freed blocks, and whatever they held,
    do not come along. Needs no other connection open."""
    source = Path(path)
    fresh = source.with_name(source.name + ".compact")
    fresh.unlink(missing_ok=True)
    writer = duckdb.connect(str(source))
    writer.execute("CHECKPOINT")  # fold the write-ahead log into the file before copying it
    writer.close()
    con = duckdb.connect()
    try:
        con.execute("ATTACH ? AS old (READ_ONLY)", [str(source)])
        con.execute("ATTACH ? AS fresh", [str(fresh)])
        con.execute("COPY FROM DATABASE old TO fresh")
        con.execute("DETACH fresh")
        con.execute("DETACH old")
    finally:
        con.close()
    os.replace(fresh, source)
