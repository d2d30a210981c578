"""Land one UTC day of interactions into `raw.interactions`, exactly once (Dagster-free: the asset wraps it).

The day is replaced in one transaction, write-audit-publish: delete the partition, stream the window's pages in
batches, drop duplicate ids, then audit the new day inside the transaction (every distinct record the server
counted arrived, ids unique across partitions, positions >= 0, the quarantined share under its limit) and
commit only when every audit passes. Other connections never see the uncommitted day; a failed audit or any
other failure rolls back, so the warehouse keeps the day as it was; a re-run gives the same table. Records
that fail validation go to `raw.rejected_interactions` with the reason and the raw JSON.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import orjson
import pandas as pd

from interactions_etl import lake as lakes
from interactions_etl import warehouse
from interactions_etl.lake import Lake
from interactions_etl.memory import default_memory_limit
from interactions_etl.mixpeek.client import MixpeekClient
from interactions_etl.mixpeek.models import INTERACTION_DECODER, INTERACTION_FIELDS, KNOWN_INTERACTION_TYPES
from interactions_etl.mixpeek.paging import Window, WindowFetcher, WindowReport
from interactions_etl.privacy import Pseudonymiser, quarantined_user_id

# Rows per INSERT: amortises the statement, keeps memory flat, and keeps the final (serial) insert short.
BATCH_ROWS = 10_000


DEFAULT_MAX_REJECTED_SHARE = 0.01
# A record larger than this is quarantined: API records are about 1 KB (metadata included), and one of many
# megabytes would make every later staging refresh run out of memory. 256 KiB is 200 times the usual size.
DEFAULT_MAX_RECORD_BYTES = 256 * 1024
# Records stamped outside the day asked for are quarantined; this many (10, or 1% of the day) mean the server
# does not filter by time at all.
MAX_STRAYS = 10
MAX_STRAY_SHARE = 0.01


class LoadAuditError(RuntimeError):
    """A day failed an audit before commit: the warehouse keeps the day as it was."""

    def __init__(self, day: date, failures: list[str]) -> None:
        self.day = day
        self.failures = failures
        super().__init__(f"{day}: {'; '.join(failures)}; the day was not changed")


@dataclass
class LoadReport:
    partition_date: date
    rows: int = 0  # landed, unique
    fetched: int = 0  # records received, valid or not, duplicates included
    duplicates: int = 0
    rejected: int = 0
    server_total: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    splits: int = 0
    paging_mode: str = "cursor"
    max_offset: int = 0
    seconds: float = 0.0
    unknown_types: dict[str, int] = field(default_factory=dict)
    total_checked: bool = True  # False when the server gave no total to compare with
    received: int = 0  # distinct records received, accepted or quarantined: what the server's total counts
    window_open: bool = False  # the day is not over: records may still arrive, so completeness is not final
    audit_seconds: float = 0.0  # the audits' share of `seconds`
    outside_window: int = 0  # records the server sent stamped outside the day (quarantined)
    duplicate_rows: int = 0  # rows sharing an interaction_id, in the day or with another day (audited)
    negative_positions: int = 0  # audited
    unstable_reads: int = 0  # offset reads that repeated records (ties in an unstable order), then resolved
    rereads: int = 0  # re-reads of a millisecond holding more records than a page
    unsorted_pages: int = 0  # offset pages not in the ascending order asked for
    commit_conflicts: int = 0  # lake commits that lost to another writer and were retried
    # Copies beyond the first of records the server holds more than once, proven so (pipelines/mixpeek/paging.py,
    # `copies_held`): counted by the server's total, landed once.
    source_duplicates: int = 0
    conflicting_copies: int = 0  # copies of an id with other content than the one kept: quarantined
    copies_across_days: int = 0  # copies of an id landed in another day too, the older quarantined in its day
    unproven_copies: int = 0  # copies received whose being held by the server could not be proven either way
    # The timestamp of each proven extra copy, to place it in its window when naming the windows that disagree.
    source_duplicate_stamps: list[datetime] = field(default_factory=list)

    @property
    def count_disagrees(self) -> bool:
        """The distinct records received and the copies the server proved it holds differ from the server's
        total, for a day that is over."""
        return (
            self.total_checked
            and not self.window_open
            and self.received + self.source_duplicates != self.server_total
        )

    @property
    def missing(self) -> int:
        """Records the server counted that no answer carried (for a day that is over)."""
        return (
            max(0, self.server_total - self.received - self.source_duplicates) if self.count_disagrees else 0
        )

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.fetched if self.fetched else 0.0


def day_window(day: date) -> Window:
    start = datetime.combine(day, clock_time(0), tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
INTERACTION_ID = re.compile(rb'"interaction_id"\s*:\s*"([^"\\]{1,200})"')


def _rejection(raw: bytes, reason: str, *, kept_bytes: int | None = None) -> dict[str, Any]:
    """A quarantine row: the id and the user where they can be read, the reason, the JSON as received (its
    first `kept_bytes` only, for a record too large to keep)."""
    user_id = quarantined_user_id(raw)
    interaction_id = None
    if kept_bytes is None:
        try:
            parsed = orjson.loads(raw)
            if isinstance(parsed, dict) and isinstance(parsed.get("interaction_id"), str):
                interaction_id = parsed["interaction_id"]
        except orjson.JSONDecodeError:
            interaction_id = _readable_id(raw)
    else:
        interaction_id = _readable_id(raw)
        raw = raw[:kept_bytes]
    return {
        "interaction_id": interaction_id,
        "reason": reason,
        "raw_json": raw.decode("utf-8", "replace"),
        "user_id": user_id,
    }


def _readable_id(raw: bytes) -> str | None:
    """The interaction_id of JSON that cannot be parsed (broken, or too large to parse), where it can be read."""
    found = INTERACTION_ID.search(raw)
    return found.group(1).decode("utf-8", "replace") if found else None


def _is_json_object_or_null(raw: msgspec.Raw) -> bool:
    data = bytes(raw)
    return data[:1] == b"{" or data == b"null"


@dataclass
class ValidatedPage:
    lines: list[bytes] = field(default_factory=list)  # accepted records as JSON lines, ready for DuckDB
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unknown_types: Counter[str] = field(default_factory=Counter)
    outside_window: int = 0  # records stamped outside the window asked for (each also quarantined)


def validate_record(
    raw: msgspec.Raw, window: Window, page: ValidatedPage, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> None:
    """Accept one record (append its JSON line) or quarantine it with the reason."""
    data = bytes(raw)
    if len(data) > max_record_bytes:
        page.rejected.append(
            _rejection(
                data,
                f"a record of {len(data):,} bytes, over the limit of {max_record_bytes:,}",
                kept_bytes=4096,
            )
        )
        return
    try:
        record = INTERACTION_DECODER.decode(data)
        line = data
    except msgspec.ValidationError as exc:
        if "unknown field" not in str(exc):
            page.rejected.append(_rejection(data, str(exc)))
            return
        # A newer API: keep the fields we know typed and the rest in `extra`.
        parsed = orjson.loads(data)
        known = {k: v for k, v in parsed.items() if k in INTERACTION_FIELDS}
        extra = {k: v for k, v in parsed.items() if k not in INTERACTION_FIELDS}
        try:
            record = INTERACTION_DECODER.decode(orjson.dumps(known))
        except msgspec.ValidationError as inner:
            page.rejected.append(_rejection(data, str(inner)))
            return
        line = orjson.dumps({**known, "extra": extra})
    except msgspec.DecodeError as exc:
        if LONE_SURROGATE.search(data):
            reason = "text that is not valid Unicode (a lone UTF-16 surrogate, or invalid UTF-8)"
        else:
            reason = f"not a JSON object: {exc}"
        page.rejected.append(_rejection(data, reason))
        return
    if not (_is_json_object_or_null(record.metadata) and _is_json_object_or_null(record.query_snapshot)):
        page.rejected.append(_rejection(data, "metadata and query_snapshot must be JSON objects or null"))
        return
    stamp = (
        record.timestamp if record.timestamp.tzinfo else record.timestamp.replace(tzinfo=UTC)
    )  # naive = UTC
    if not window.start <= stamp < window.end:
        # A record outside the window it was asked for would land in the wrong partition.
        page.outside_window += 1
        page.rejected.append(_rejection(data, f"timestamp {stamp.isoformat()} outside the requested window"))
        return
    if not KNOWN_INTERACTION_TYPES.issuperset(record.interaction_type):
        for name in record.interaction_type:
            if name.lower() not in KNOWN_INTERACTION_TYPES:
                page.unknown_types[name.lower()] += 1
    page.lines.append(line)


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
                _prove_copies(fetcher, copies, report)
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


def _prove_copies(fetcher: WindowFetcher, copies: list[tuple[Any, ...]], report: LoadReport) -> None:
    """Of the ids received more than once, count the extra copies the server holds (each a record its total
    counts, landed once), and those that could not be proven either way."""
    held = fetcher.copies_held({interaction_id: stamps for interaction_id, _, stamps, _ in copies})
    for interaction_id, received_copies, stamps, _ in copies:
        copies_held = held.get(interaction_id)
        if copies_held is None or not stamps:
            report.unproven_copies += received_copies - 1
        elif copies_held > 1:
            extra = min(copies_held, received_copies) - 1
            report.source_duplicates += extra
            report.source_duplicate_stamps += [stamps[0]] * extra


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
            rejected.append(_rejection(lines[0], f"DuckDB cannot type the record: {_duckdb_reason(exc)}"))
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


def audit_day(
    con: Any,
    day: date,
    report: LoadReport,
    max_rejected_share: float,
    leaves: Sequence[tuple[Window, int]] = (),
    params: dict[str, Any] | None = None,
) -> list[str]:
    """The blocking audits of a day landed but not yet committed, each failure in words with its figures.
    `leaves` are the windows the server gave a total for, to name those whose count disagrees. With the load's
    `params`, an id the day shares with another day is first resolved (the newest copy kept, the other
    quarantined in its own day), so only what could not be resolved fails the uniqueness audit."""
    failures = []
    # A server that does not apply the time filter sends other days' records: name it, beside the figures.
    if report.outside_window > max(MAX_STRAYS, MAX_STRAY_SHARE * report.fetched):
        failures.append(
            f"the server ignores the time filter: {report.outside_window:,} of the {report.fetched:,} records "
            "it sent lie outside the day"
        )
    report.received = warehouse.one(con, "raw/count_received_partition", partition_date=day)[0]
    if report.count_disagrees:
        failures.append(
            f"{report.received:,} distinct records fetched"
            + (
                f" and {report.source_duplicates:,} more copies of records the server holds more than once"
                if report.source_duplicates
                else ""
            )
            + f", the server reports {report.server_total:,}"
            + (f": {_count(report.missing, 'record')} missing" if report.missing else "")
            + (
                f" ({report.unproven_copies:,} copies received twice could not be proven to be held twice)"
                if report.missing and report.unproven_copies
                else ""
            )
            + _windows_that_disagree(con, day, leaves, report.source_duplicate_stamps)
            + (
                f"; the server did not sort by timestamp as asked ({report.unsorted_pages:,} pages out of order)"
                if report.unsorted_pages
                else ""
            )
        )
    report.duplicate_rows = warehouse.one(con, "checks/raw_interactions_duplicate_ids", partition_date=day)[0]
    if report.duplicate_rows and params is not None:
        report.copies_across_days = _resolve_copies_across_days(con, day, params)
        report.duplicate_rows = warehouse.one(
            con, "checks/raw_interactions_duplicate_ids", partition_date=day
        )[0]
    if report.duplicate_rows:
        failures.append(f"{report.duplicate_rows:,} rows share an interaction_id with a row of another day")
    report.negative_positions = warehouse.one(
        con, "checks/raw_interactions_negative_positions", partition_date=day
    )[0]
    if report.negative_positions:
        failures.append(f"{report.negative_positions:,} rows have a negative position")
    share = report.rejected_share
    if share > max_rejected_share:
        failures.append(
            f"{report.rejected:,} of {report.fetched:,} records quarantined ({share:.2%}, the limit is "
            f"{max_rejected_share:.2%})"
        )
    return failures


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _resolve_copies_across_days(con: Any, day: date, params: dict[str, Any]) -> int:
    """Inside the day's transaction: of the copies of an id landed in several days, keep the newest and move
    each other to its own day's quarantine, logging its event day for staging. Returns how many moved."""
    warehouse.run(con, "raw/rank_copies_across_days", partition_date=day)
    moved = warehouse.one(con, "raw/quarantine_copies_across_days", loaded_at=params["loaded_at"],
                          run_id=params["run_id"])[0]  # fmt: skip
    warehouse.run(con, "raw/log_copies_across_days", loaded_at=params["loaded_at"], run_id=params["run_id"])
    warehouse.run(con, "raw/delete_copies_across_days")
    return moved


MAX_WINDOWS_NAMED = 3


def _windows_that_disagree(
    con: Any, day: date, leaves: Sequence[tuple[Window, int]], proven_copies: Sequence[datetime] = ()
) -> str:
    """' (06:00-07:00: 24,916 fetched, the server reports 25,000; ...)' for the windows whose count differs,
    each proven extra copy counted in the window of its timestamp."""
    if len(leaves) < 2:
        return ""  # the day's figures are the window's
    counts = warehouse.rows(
        con,
        "raw/count_received_by_window",
        partition_date=day,
        starts=[w.start for w, _ in leaves],
        ends=[w.end for w, _ in leaves],
        totals=[total for _, total in leaves],
    )
    wrong = []
    for start, end, received, total in counts:
        received += sum(1 for stamp in proven_copies if start <= stamp < end)
        if received != total:
            wrong.append(
                f"{_clock(start, day)}-{_clock(end, day)}: {received:,} fetched, the server reports {total:,}"
            )
    if not wrong:
        return ""
    more = len(wrong) - MAX_WINDOWS_NAMED
    return f" ({'; '.join(wrong[:MAX_WINDOWS_NAMED])}{f'; and {more} more windows' if more > 0 else ''})"


def _clock(moment: datetime, day: date) -> str:
    """A window edge as a time of the day: 06:00, 06:00:07.5, 24:00 for the next midnight."""
    moment = moment.astimezone(UTC)
    if moment.date() > day:
        return "24:00"
    text = moment.strftime("%H:%M")
    if moment.second or moment.microsecond:
        text += f":{moment.second:02d}"
        if moment.microsecond:
            text += f".{moment.microsecond:06d}".rstrip("0")
    return text


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
