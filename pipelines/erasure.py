"""Erasing a user (Dagster-free): `interactions forget-user USER_ID`.

The user's rows leave raw (interactions and quarantine) in one transaction that also logs their event days;
the staging and mart refreshes then rebuild exactly those days, so every table is as if the user had never
been loaded. DuckDB frees the deleted blocks but does not overwrite them: `compact` rewrites the database into
a new file and swaps it in, so the bytes are gone from disk too. Then every other file a person can open is
brought in line: the analysts' copy is published again from the compacted file, and the reports are rewritten
(`erase_everywhere`). Dagster's storage holds no user-level rows (no asset keeps row previews of event-level
tables); it is searched for the id all the same, and any file holding it is named. The API keeps its own copy:
erase it there (DELETE /v1/retrievers/interactions/{id}) before the next load brings it back.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from interactions_etl import warehouse
from interactions_etl.marts import MartsSettings, refresh_marts
from interactions_etl.privacy import Pseudonymiser
from interactions_etl.staging import refresh_staging

if TYPE_CHECKING:
    from interactions_etl.backends import Warehouse


@dataclass(frozen=True)
class Erasure:
    interactions: int
    quarantined: int
    days_rebuilt: int
    days: frozenset[date] = frozenset()  # the search days rebuilt: those the user's events belonged to


def stored_user_id(user_id: str, pseudonymiser: Pseudonymiser | None = None) -> str:
    """The id as the warehouse holds it: where loads pseudonymise (INTERACTIONS_PSEUDONYMISE_KEY), the
    pseudonym, computed with the same key."""
    if not user_id:
        raise ValueError("a user id is required")
    return pseudonymiser.pseudonym(user_id) if pseudonymiser is not None else user_id


def forget_user(
    con: duckdb.DuckDBPyConnection,
    user_id: str,
    marts: MartsSettings | None = None,
    pseudonymiser: Pseudonymiser | None = None,
) -> Erasure:
    """Erase `user_id` as the API sends it from the warehouse's tables (`pseudonymiser`: the loads' key)."""
    user_id = stored_user_id(user_id, pseudonymiser)
    warehouse.ensure_raw_tables(con)
    warehouse.ensure_quarantined_user_ids(con)  # quarantines of an older release: deleted by the column too
    with warehouse.transaction(con):
        warehouse.run(con, "raw/log_user_event_dates", user_id=user_id, run_id="forget-user",
                      loaded_at=datetime.now(UTC))  # fmt: skip
        interactions = warehouse.one(con, "raw/delete_user_interactions", user_id=user_id)[0]
        quarantined = warehouse.one(con, "raw/delete_user_rejected", user_id=user_id)[0]
    staged = refresh_staging(con)
    refresh_marts(con, marts)
    return Erasure(interactions, quarantined, len(staged.execution_days), frozenset(staged.execution_days))


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
        warehouse.attach(con, source, "old", read_only=True)
        warehouse.attach(con, fresh, "fresh", read_only=False)
        con.execute("COPY FROM DATABASE old TO fresh")
        con.execute("DETACH fresh")
        con.execute("DETACH old")
    finally:
        con.close()
    os.replace(fresh, source)


@dataclass(frozen=True)
class ErasureEverywhere:
    warehouse: Erasure
    storage: str  # what happened to the bytes on disk, in a sentence (compacted; files rewritten, expired)
    published: str | None  # what happened to the analysts' copy, in a sentence (None: nothing to say)
    published_held: int  # the user's interactions the analysts' copy held before
    reports_rewritten: list[Path]
    files_still_holding: list[Path]  # files outside the warehouse that still hold the id (none expected)

    @property
    def found(self) -> bool:
        return bool(self.warehouse.interactions or self.warehouse.quarantined or self.published_held)


def user_interactions_in(path: Path, stored_id: str) -> int:
    """The user's rows in raw.interactions of a warehouse file (0 for a file without the table)."""
    if not path.exists():
        return 0
    con = duckdb.connect(str(path), read_only=True)
    try:
        return warehouse.one(con, "raw/count_user_interactions", user_id=stored_id)[0]
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()


def file_holds(path: Path, needle: bytes) -> bool:
    """Whether the file's bytes contain `needle`, searched through a memory map: Dagster's event logs grow
    for months, and are not read into memory for this. A file that goes away during the search holds nothing:
    SQLite's -shm and -wal files come and go while Dagster runs beside the erasure."""
    try:
        if path.stat().st_size < len(needle):
            return False
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return mapped.find(needle) != -1
    except FileNotFoundError:
        return False
    except ValueError:  # emptied between the size and the map: mmap refuses an empty file
        return False


def files_holding(folders: list[Path], needle: bytes) -> list[Path]:
    """Every file under `folders` whose bytes contain `needle`."""
    found = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if file_holds(path, needle):
                found.append(path)
    return found


def paths_holding(paths: Sequence[Path], needle: bytes) -> list[Path]:
    """The files among `paths`, and under those that are folders, whose bytes contain `needle`."""
    searched = [p for p in paths if p.exists()]
    return files_holding([p for p in searched if p.is_dir()], needle) + [
        p for p in searched if p.is_file() and file_holds(p, needle)
    ]


def erase_everywhere(
    backend: Warehouse,
    user_id: str,
    *,
    reports_dir: Path | None = None,
    also_search: Sequence[Path] = (),
    pseudonymiser: Pseudonymiser | None = None,
) -> ErasureEverywhere:
    """Erase the user from the warehouse and from its bytes on disk (a file compacted; a lake's files rewritten
    and its older snapshots expired), publish what is left for analysts, rewrite the reports of `reports_dir`
    that counted the user, and name any file under `also_search` (the reports' folder, Dagster's home) or
    that analysts open that still holds the id."""
    stored = stored_user_id(user_id, pseudonymiser)
    erased = backend.erase_rows(user_id, pseudonymiser)
    done = erased.erasure
    rewritten: list[Path] = []
    if reports_dir is not None:
        from interactions_etl.report import rewrite_reports

        # The days the user's events touched. When the warehouse no longer held the user but something else
        # may have (an erasure before this one that did not reach every file), which reports counted them is
        # unknown: all of them. A file's analysts' copy says whether it did; a lake's readers read the lake.
        unsure = erased.published_held > 0 or not erased.files_analysts_open
        days = set(done.days) if done.interactions or not unsure else None
        con = backend.connect(read_only=True)
        try:
            rewritten = rewrite_reports(con, reports_dir, days, warehouse_name=backend.name)
        finally:
            con.close()
    holding = paths_holding([*erased.files_analysts_open, *also_search], stored.encode())
    return ErasureEverywhere(
        done, erased.storage, erased.published, erased.published_held, rewritten, holding
    )
