"""A day landed, write-audit-publish (Dagster-free): the day's rows replaced in one transaction, its pages
streamed in batches, the audits run inside the transaction, and COMMIT only when every one passes."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd

from interactions_etl import lake as lakes
from interactions_etl import warehouse
from interactions_etl.lake import Lake
from interactions_etl.landing.audits import (
    DEFAULT_MAX_REJECTED_SHARE,
    LoadAuditError,
    LoadReport,
    audit_day,
    prove_copies,
)
from interactions_etl.landing.records import (
    DEFAULT_MAX_RECORD_BYTES,
    ValidatedPage,
    rejection,
    validate_record,
)
from interactions_etl.memory import default_memory_limit
from interactions_etl.mixpeek.client import MixpeekClient
from interactions_etl.mixpeek.paging import Window, WindowFetcher, WindowReport
from interactions_etl.privacy import Pseudonymiser

# Rows per INSERT: amortises the statement, keeps memory flat, and keeps the final (serial) insert short.
BATCH_ROWS = 10_000


def day_window(day: date) -> Window:
    start = datetime.combine(day, clock_time(0), tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


class _UntypableBatch(Exception):
    """A batch DuckDB could not type inside the day's transaction, which is void from then on."""


@dataclass(frozen=True)
class _LoadOptions:
    page_size: int
    sub_windows: int | None
    memory_limit: str
    temp_directory: str | None
    pseudonymiser: Pseudonymiser | None
    max_rejected_share: float
    max_record_bytes: int
    lock_timeout_seconds: float


def load_day(
    client: MixpeekClient,
    location: warehouse.Location,
    day: date,
    run_id: str,
    *,
    page_size: int = 1000,
    sub_windows: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    lock_timeout_seconds: float = warehouse.DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> LoadReport:
    """Land `day` into the warehouse at `location` (a DuckDB file or a Lake)."""
    started = time.perf_counter()
    stats_before = (client.stats.requests, client.stats.retries, client.stats.throttled)
    options = _LoadOptions(
        page_size,
        sub_windows,
        memory_limit or default_memory_limit(),
        temp_directory,
        pseudonymiser,
        max_rejected_share,
        max_record_bytes,
        lock_timeout_seconds,
    )
    # A lake always stages the day locally first: its transaction then lasts the commit, not the fetch, and a
    # commit that loses to another writer is retried from the staged day (pipelines/lake.py).
    on_lake = isinstance(location, Lake)
    try:
        report = _load_once(client, location, day, run_id, options, staged=on_lake)
    except _UntypableBatch:
        # A record DuckDB cannot type (a value past a column's range, invalid UTF-8, a duplicate key): its
        # batch failed inside the day's transaction, which then rolled back. The day is loaded again through a
        # staging file, where each batch commits on its own and a failing one is split until the records it
        # refuses are found and quarantined. Rare, so the usual load pays nothing for it.
        report = _load_once(client, location, day, run_id, options, staged=True)
    report.requests = client.stats.requests - stats_before[0]
    report.retries = client.stats.retries - stats_before[1]
    report.throttled = client.stats.throttled - stats_before[2]
    report.seconds = time.perf_counter() - started
    return report


def _load_once(
    client: MixpeekClient,
    location: warehouse.Location,
    day: date,
    run_id: str,
    options: _LoadOptions,
    *,
    staged: bool,
) -> LoadReport:
    started_at = datetime.now(UTC)
    report = LoadReport(partition_date=day)
    window = day_window(day)
    fetch = WindowReport()
    params = {"partition_date": day, "loaded_at": datetime.now(UTC), "run_id": run_id}
    pending = ValidatedPage()
    with contextlib.ExitStack() as cleanup:  # unwinds in reverse: the transaction, the connections, scratch
        scratch = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="interactions-load-"))
        staged_path = Path(scratch) / "staged.duckdb"

        def open_warehouse(stack: contextlib.ExitStack) -> duckdb.DuckDBPyConnection:
            return stack.enter_context(
                contextlib.closing(
                    warehouse.connect(
                        location,
                        memory_limit=options.memory_limit,
                        temp_directory=options.temp_directory,
                        lock_timeout_seconds=options.lock_timeout_seconds,
                    )
                )
            )

        if staged:
            target = stage = cleanup.enter_context(
                contextlib.closing(
                    warehouse.connect(
                        staged_path, memory_limit=options.memory_limit, temp_directory=options.temp_directory
                    )
                )
            )
            warehouse.ensure_raw_tables(stage)
        else:  # straight into the warehouse, inside the day's transaction
            target = con = open_warehouse(cleanup)
            warehouse.ensure_raw_tables(con)
            cleanup.enter_context(warehouse.transaction(con))
            _replace_day(con, day, params)
        fetcher = WindowFetcher(client, page_size=options.page_size, sub_windows=options.sub_windows)
        batch_path = Path(scratch) / "batch.ndjson"
        for page in fetcher.pages(window, fetch):
            report.fetched += len(page)
            for raw in page:
                validate_record(raw, window, pending, max_record_bytes=options.max_record_bytes)
            if len(pending.lines) >= BATCH_ROWS:
                _stage_batch(
                    target, pending, batch_path, params, options.pseudonymiser, report, bisect=staged
                )
        _stage_batch(target, pending, batch_path, params, options.pseudonymiser, report, bisect=staged)
        landed_before_dedupe = warehouse.one(target, "raw/count_interactions_partition", partition_date=day)[
            0
        ]
        warehouse.run(target, "raw/rank_copies_partition", partition_date=day)
        copies = warehouse.rows(target, "raw/copies_received_partition", partition_date=day)
        report.conflicting_copies = warehouse.one(target, "raw/quarantine_conflicting_copies", **params)[0]
        warehouse.run(target, "raw/dedupe_interactions_partition", partition_date=day)
        report.rows = warehouse.one(target, "raw/count_interactions_partition", partition_date=day)[0]
        report.duplicates = landed_before_dedupe - report.rows
        report.server_total, report.total_checked = fetch.server_total, not fetch.unknown_total
        report.outside_window = pending.outside_window
        report.window_open = window.end > started_at
        if copies and report.total_checked and not report.window_open:
            received = warehouse.one(target, "raw/count_received_partition", partition_date=day)[0]
            if received < report.server_total:  # copies the server may hold: ask it, rather than guess
                prove_copies(fetcher, copies, report)
        report.unstable_reads, report.rereads = fetch.unstable_reads, fetch.rereads
        report.unsorted_pages = fetch.unsorted_pages
        if staged:
            stage.close()  # the staged day is complete: the warehouse attaches the file

            def publish() -> None:
                """One short transaction: replace the day from the staged file, audit it, commit."""
                with contextlib.ExitStack() as attempt:
                    con = open_warehouse(attempt)
                    warehouse.attach(con, staged_path, "staged", read_only=True)
                    # Writers take turns on the commit alone (the fetch is done): a build that publishes
                    # holds the same lock, so it sees this day whole or not at all.
                    attempt.enter_context(warehouse.writer_lock(
                        location, f"load of {day}", lock_timeout_seconds=options.lock_timeout_seconds))  # fmt: skip
                    warehouse.ensure_raw_tables(con)  # a new lake's tables: created by one writer at a time
                    attempt.enter_context(warehouse.transaction(con))
                    replace_day_from_staged(con, day, params)
                    _audit_and_log(con, day, report, options, fetch, params)

            conflicts = lakes.ConflictStats()
            lakes.retry_conflicts(publish, stats=conflicts, max_seconds=options.lock_timeout_seconds)
            report.commit_conflicts = conflicts.retries
        else:
            # Audit, then publish: commit (leaving the block) only when every audit of the day, landed but
            # uncommitted, passes; a failure rolls the day back.
            _audit_and_log(con, day, report, options, fetch, params)
    report.pages = fetch.pages
    report.splits = fetch.splits
    report.paging_mode = fetch.mode
    report.max_offset = fetch.max_offset
    report.unknown_types = dict(pending.unknown_types)
    return report


def _audit_and_log(
    con: duckdb.DuckDBPyConnection,
    day: date,
    report: LoadReport,
    options: _LoadOptions,
    fetch: WindowReport,
    params: dict[str, Any],
) -> None:
    """Inside the day's transaction: the audits (raising LoadAuditError, which rolls the day back), then the
    log of the event days the new rows belong to."""
    audit_started = time.perf_counter()
    failures = audit_day(con, day, report, options.max_rejected_share, fetch.leaves, params)
    report.audit_seconds = time.perf_counter() - audit_started
    if failures:
        raise LoadAuditError(day, failures)
    warehouse.run(con, "raw/log_changed_event_dates", **params)


def replace_day_from_staged(con: duckdb.DuckDBPyConnection, day: date, params: dict[str, Any]) -> None:
    """Inside the day's transaction, with the staged file attached as `staged`: the day's rows replaced by the
    staged ones (what a lake's commit holds; benchmarks/lake.py times it)."""
    _replace_day(con, day, params)
    warehouse.run(con, "raw/publish_staged_interactions", partition_date=day)
    warehouse.run(con, "raw/publish_staged_rejected", partition_date=day)


def _replace_day(con: duckdb.DuckDBPyConnection, day: date, params: dict[str, Any]) -> None:
    """Inside the day's transaction: log the days the old rows belonged to, then delete them."""
    warehouse.run(con, "raw/log_changed_event_dates", **params)
    warehouse.run(con, "raw/delete_interactions_partition", partition_date=day)
    warehouse.run(con, "raw/delete_rejected_partition", partition_date=day)


def _stage_batch(
    stage: Any,
    pending: ValidatedPage,
    batch_path: Path,
    params: dict[str, Any],
    pseudonymiser: Pseudonymiser | None,
    report: LoadReport,
    *,
    bisect: bool,
) -> None:
    """Accepted records go to DuckDB as JSON lines: its C++ reader types the columns (sql/raw/
    insert_interactions_batch.sql), so Python never builds a row, and memory holds one batch at a time. With
    `bisect` (a staging file, where each statement commits on its own), a batch DuckDB cannot type is split in
    halves until the records it cannot take are found: those are quarantined with DuckDB's reason, the rest
    land. Without it (inside the warehouse's transaction) such a batch raises _UntypableBatch."""
    if pseudonymiser is not None:  # before anything is written, to disk or to DuckDB
        # The validation's rejections first: those the typed insert adds come from lines already pseudonymised.
        for rejection in pending.rejected:
            rejection["raw_json"] = pseudonymiser.apply(rejection["raw_json"].encode()).decode()
            if rejection["user_id"] is not None:
                rejection["user_id"] = pseudonymiser.pseudonym(rejection["user_id"])
    if pending.lines:
        if pseudonymiser is not None:
            pending.lines[:] = [pseudonymiser.apply(line) for line in pending.lines]
        _insert_typed(stage, pending.lines, batch_path, params, pending.rejected, bisect=bisect)
        pending.lines.clear()
    if pending.rejected:
        stage.register("rejected_batch", pd.DataFrame(pending.rejected))
        warehouse.run(stage, "raw/insert_rejected_batch", **params)
        stage.unregister("rejected_batch")
        report.rejected += len(pending.rejected)
        pending.rejected.clear()


# What DuckDB raises for a value it cannot type; anything else (a full disk, a lock) is no record's fault.
TYPING_ERRORS = (duckdb.ConversionException, duckdb.InvalidInputException)


def _insert_typed(
    stage: Any,
    lines: list[bytes],
    batch_path: Path,
    params: dict[str, Any],
    rejected: list[dict[str, Any]],
    *,
    bisect: bool,
) -> None:
    batch_path.write_bytes(b"\n".join(lines))
    try:
        warehouse.run(stage, "raw/insert_interactions_batch", batch_path=str(batch_path), **params)
    except TYPING_ERRORS as exc:
        if not bisect:
            raise _UntypableBatch(str(exc)) from exc
        # Each statement commits on its own in the staging file: a failed batch left nothing behind.
        if len(lines) == 1:
            rejected.append(rejection(lines[0], f"DuckDB cannot type the record: {_duckdb_reason(exc)}"))
            return
        middle = len(lines) // 2
        _insert_typed(stage, lines[:middle], batch_path, params, rejected, bisect=True)
        _insert_typed(stage, lines[middle:], batch_path, params, rejected, bisect=True)


def _duckdb_reason(exc: duckdb.Error) -> str:
    """DuckDB's message without the scratch file's path and without the record it quotes (kept beside)."""
    first = str(exc).splitlines()[0]
    first = re.sub(r' in file "[^"]*",?', "", first)
    first = re.sub(r"Object \{.*?(?= has )", "the record", first)
    return first[:300]


def land_records(
    location: warehouse.Location, records: Iterable[dict[str, Any]], run_id: str, *, memory_limit: str = "2GB"
) -> int:
    """Land records that did not come through the API (the generator's, for benchmarks and the acceptance
    tests) into raw.interactions, each in the partition of its recorded UTC day, through the same typed insert
    as a load, in one transaction. The records must be valid API records: nothing is validated here.
    Returns the number of rows landed."""
    loaded_at = datetime.now(UTC)
    pending: dict[date, list[bytes]] = {}
    landed = 0
    con = warehouse.connect(location, memory_limit=memory_limit)
    scratch = tempfile.TemporaryDirectory(prefix="interactions-land-")
    batch_path = Path(scratch.name) / "batch.ndjson"

    def flush(day: date) -> None:
        batch_path.write_bytes(b"\n".join(pending.pop(day)))
        warehouse.run(con, "raw/insert_interactions_batch", batch_path=str(batch_path),
                      partition_date=day, loaded_at=loaded_at, run_id=run_id)  # fmt: skip

    try:
        warehouse.ensure_raw_tables(con)
        with warehouse.writer_lock(location, "landing of records"), warehouse.transaction(con):
            for record in records:
                day = date.fromisoformat(record["timestamp"][:10])
                lines = pending.setdefault(day, [])
                lines.append(orjson.dumps(record))
                landed += 1
                if len(lines) >= BATCH_ROWS:
                    flush(day)
            for day in list(pending):
                flush(day)
            for day in warehouse.rows(con, "raw/partitions_loaded_by_run", run_id=run_id):
                warehouse.run(con, "raw/log_changed_event_dates", partition_date=day[0], run_id=run_id,
                              loaded_at=loaded_at)  # fmt: skip
    finally:
        con.close()
        scratch.cleanup()
    return landed
