"""The warehouse on its backend (Dagster-free): a DuckDB file or a DuckLake, one object built once from its
settings (`warehouse_of`), the only place that tells them apart. Everything that differs between the two is a
method here: opening what analysts read, publishing a build, erasing a user's rows from the bytes on disk,
how loads take turns; what does not differ (the SQL, the refreshes, the audits) never asks.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb

from interactions_etl import lake as lakes
from interactions_etl import warehouse
from interactions_etl.lake import Lake

if TYPE_CHECKING:
    from interactions_etl.erasure import Erasure
    from interactions_etl.privacy import Pseudonymiser
    from interactions_etl.settings import Settings

# Run in the connection that publishes, before it does: the catch-up with days other writers committed.
Prepare = Callable[[duckdb.DuckDBPyConnection], None]

Backend = Literal["file", "ducklake"]


class WarehouseNotWritableError(RuntimeError):
    """The warehouse's folder cannot be created or written; the message is one line."""


@dataclass(frozen=True)
class Published:
    """A build handed to analysts: what to log, and the asset's metadata."""

    message: str
    metadata: dict[str, object]


@dataclass(frozen=True)
class ErasedRows:
    """A user's rows erased from the warehouse and from its bytes on disk (before reports and other files)."""

    erasure: Erasure
    storage: str  # what happened to storage, in a sentence
    published: str | None  # what happened to the analysts' copy, in a sentence (None: nothing to say)
    published_held: int  # the user's interactions the analysts' copy held before
    files_analysts_open: list[
        Path
    ]  # files outside the warehouse that analysts open (searched for the id after)


@dataclass(frozen=True, kw_only=True)
class Warehouse(ABC):
    """What a run needs of the warehouse, whichever the backend."""

    memory_limit: str | None = None  # None: DuckDB's own (the settings give half the visible memory)
    temp_directory: str | None = None
    lock_timeout_seconds: float = warehouse.DEFAULT_LOCK_TIMEOUT_SECONDS

    @property
    @abstractmethod
    def location(self) -> warehouse.Location:
        """The file's path or the Lake: what the Dagster-free functions take."""

    @property
    @abstractmethod
    def name(self) -> str:
        """What reports and logs call it: the file's name, or the lake's catalog database."""

    @property
    def parallel_loads(self) -> int | None:
        """Loads that may run at once (None: one writer at a time, with everything else)."""
        return None

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return warehouse.connect(
            self.location,
            read_only=read_only,
            memory_limit=self.memory_limit,
            temp_directory=self.temp_directory,
            lock_timeout_seconds=self.lock_timeout_seconds,
        )

    def writer_lock(self, purpose: str) -> contextlib.AbstractContextManager[None]:
        """Writers take turns (a lake's advisory lock; a file's connection already holds it alone)."""
        return warehouse.writer_lock(self.location, purpose, lock_timeout_seconds=self.lock_timeout_seconds)

    def exists(self) -> bool:
        """Whether there is a warehouse yet (a load creates the file; a lake is created by migrate or a load)."""
        return True

    def is_file(self, path: Path) -> bool:
        """Whether `path` is this warehouse's own file."""
        return False

    def check_writable(self) -> None:
        """Fail in one line (WarehouseNotWritableError) where a load could not write, before anything runs."""
        return None  # a lake's writes are checked by connecting

    def holds_nothing(self) -> bool:
        """True for a warehouse a first load created without landing a day (it may then be removed)."""
        return False

    def remove(self) -> None:
        """Remove a warehouse that holds nothing, so a failed first run leaves no empty file behind."""
        return None  # a lake is never created by a load

    @abstractmethod
    def connect_finished(self) -> duckdb.DuckDBPyConnection:
        """Read-only, at the newest finished build: what `interactions report` reads."""

    @abstractmethod
    def publish(self, run_id: str, prepare: Prepare | None = None) -> Published:
        """Hand the build to analysts, atomically; `prepare` runs first, where no other writer can commit
        between it and what is published."""

    @abstractmethod
    def erase_rows(self, user_id: str, pseudonymiser: Pseudonymiser | None = None) -> ErasedRows:
        """Erase a user's rows, and their bytes from storage, then publish what is left."""


@dataclass(frozen=True, kw_only=True)
class FileWarehouse(Warehouse):
    """A DuckDB file: one writing process at a time; analysts read a copy published beside it."""

    path: Path
    published_path: Path | None = None  # None: NAME.published.duckdb beside NAME.duckdb

    @property
    def location(self) -> warehouse.Location:
        return self.path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def published_copy(self) -> Path:
        return warehouse.published_path_for(self.path, self.published_path)

    def exists(self) -> bool:
        return self.path.exists()

    def is_file(self, path: Path) -> bool:
        return path.resolve() == self.path.resolve()

    def check_writable(self) -> None:
        import tempfile

        folder = self.path.resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise WarehouseNotWritableError(
                f"cannot write the warehouse {self.path}: {exc.strerror or exc} ({folder}); set --warehouse or "
                "WAREHOUSE_PATH"
            ) from None

    def holds_nothing(self) -> bool:
        if not self.path.exists():
            return True
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error:
            return False
        try:
            return warehouse.one(con, "checks/raw_interactions_row_count")[0] == 0
        except duckdb.CatalogException:  # not even the table: nothing was landed
            return True
        finally:
            con.close()

    def remove(self) -> None:
        for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
            leftover.unlink(missing_ok=True)

    def connect_finished(self) -> duckdb.DuckDBPyConnection:
        # The file itself: a connection sees committed work only, and each step commits whole.
        return self.connect(read_only=True)

    def publish(self, run_id: str, prepare: Prepare | None = None) -> Published:
        target = warehouse.publish(
            self.path,
            self.published_copy,
            lock_timeout_seconds=self.lock_timeout_seconds,
            prepare=prepare,  # in the copying connection, which holds the file alone
        )
        size = target.stat().st_size
        return Published(
            message=f"published {target} ({size / 2**20:.1f} MiB)",
            metadata={"path": str(target.resolve()), "bytes": size},
        )

    def erase_rows(self, user_id: str, pseudonymiser: Pseudonymiser | None = None) -> ErasedRows:
        from interactions_etl.erasure import compact, forget_user, stored_user_id, user_interactions_in

        published = self.published_copy
        published_held = user_interactions_in(published, stored_user_id(user_id, pseudonymiser))
        con = self.connect()
        try:
            done = forget_user(con, user_id, pseudonymiser=pseudonymiser)
        finally:
            con.close()
        compact(self.path)
        said = None
        if published.exists() and (done.interactions or done.quarantined or published_held):
            warehouse.publish(self.path, published, lock_timeout_seconds=self.lock_timeout_seconds)
            said = (
                f"{published} (the analysts' copy): published again; it held {published_held:,} of the user's "
                "interactions, now none"
            )
        return ErasedRows(done, "compacted", said, published_held, [published])


@dataclass(frozen=True, kw_only=True)
class LakeWarehouse(Warehouse):
    """A DuckLake: writers from anywhere take turns on its lock; analysts attach at the published snapshot."""

    lake: Lake
    loads_at_once: int = 4
    snapshot_retention_days: int = 7

    @property
    def location(self) -> warehouse.Location:
        return self.lake

    @property
    def name(self) -> str:
        return lakes.display_name(self.lake)

    @property
    def parallel_loads(self) -> int | None:
        return self.loads_at_once

    def connect_finished(self) -> duckdb.DuckDBPyConnection:
        # The published snapshot: a build in progress on another machine is never half-read.
        con, _ = lakes.connect_published(self.lake, memory_limit=self.memory_limit)
        return con

    def publish(self, run_id: str, prepare: Prepare | None = None) -> Published:
        con = self.connect()
        try:
            # No day commits between `prepare` and the snapshot recorded.
            with self.writer_lock("publish"):
                if prepare is not None:
                    prepare(con)
                snapshot = lakes.publish_snapshot(con, run_id)
                # Storage follows: snapshots older than the retention expire (the published one stays) and the
                # files only they saw are deleted, so retired and deleted rows leave the disk.
                keep_days = timedelta(days=self.snapshot_retention_days)
                purged = lakes.purge(con, older_than=datetime.now(UTC) - keep_days, keep=[snapshot])
        finally:
            con.close()
        return Published(
            message=f"published snapshot {snapshot} of {self.name}; {purged.snapshots_expired} older snapshots "
            f"expired, {purged.files_deleted} files deleted",
            metadata={
                "snapshot": snapshot,
                "snapshots_expired": purged.snapshots_expired,
                "files_rewritten": purged.files_rewritten,
                "files_deleted": purged.files_deleted,
            },
        )

    def erase_rows(self, user_id: str, pseudonymiser: Pseudonymiser | None = None) -> ErasedRows:
        from interactions_etl.erasure import forget_user

        con = self.connect()
        try:
            # Writers take turns on the lake: no load commits between the erasure, the purge and the snapshot
            # published, and the refreshes inside absorb every day committed before.
            with self.writer_lock("forget-user"):
                done = forget_user(con, user_id, pseudonymiser=pseudonymiser)
                purged = lakes.purge(con)
                snapshot = lakes.publish_snapshot(con, "forget-user")
        finally:
            con.close()
        storage = (
            f"{purged.files_rewritten} data files rewritten, {purged.snapshots_expired} older snapshots expired, "
            f"{purged.files_deleted} unreferenced files deleted; readers attach at snapshot {snapshot}"
        )
        return ErasedRows(done, storage, None, 0, [])


def warehouse_of(
    backend: Backend | str,
    *,
    path: str | os.PathLike[str],
    published_path: str | os.PathLike[str] | None = None,
    lake: Lake | None = None,
    parallel_loads: int = 4,
    snapshot_retention_days: int = 7,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    lock_timeout_seconds: float = warehouse.DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> Warehouse:
    """The warehouse `backend` names: the one place that reads which backend it is."""
    common = {
        "memory_limit": memory_limit,
        "temp_directory": temp_directory,
        "lock_timeout_seconds": lock_timeout_seconds,
    }
    if backend == "ducklake":
        if lake is None:
            raise ValueError("a DuckLake warehouse needs its catalog and data path")
        return LakeWarehouse(
            lake=lake, loads_at_once=parallel_loads, snapshot_retention_days=snapshot_retention_days, **common
        )
    return FileWarehouse(
        path=Path(path), published_path=Path(published_path) if published_path else None, **common
    )


def warehouse_from_settings(settings: Settings) -> Warehouse:
    """The warehouse the environment's settings describe (the CLI's; Dagster's resource builds the same from
    its own fields)."""
    return warehouse_of(
        settings.warehouse_backend,
        path=settings.warehouse_path,
        published_path=settings.published_warehouse_path,
        lake=lakes.lake_described_by(settings),
        parallel_loads=settings.ducklake_parallel_loads,
        snapshot_retention_days=settings.ducklake_snapshot_retention_days,
        memory_limit=settings.memory_limit,
        temp_directory=str(settings.warehouse_temp_directory) if settings.warehouse_temp_directory else None,
        lock_timeout_seconds=settings.warehouse_lock_timeout_seconds,
    )
