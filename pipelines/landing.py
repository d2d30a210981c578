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
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pandas as pd

from pipelines import warehouse
from pipelines.mixpeek.client import MixpeekClient
from pipelines.mixpeek.models import INTERACTION_DECODER, INTERACTION_FIELDS, KNOWN_INTERACTION_TYPES
from pipelines.mixpeek.paging import Window, WindowFetcher, WindowReport
from pipelines.privacy import Pseudonymiser

# Rows per INSERT: amortises the statement, keeps memory flat, and keeps the final (serial) insert short.
BATCH_ROWS = 10_000


DEFAULT_MAX_REJECTED_SHARE = 0.01


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

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.fetched if self.fetched else 0.0

    def as_metadata(self) -> dict[str, Any]:
        data = asdict(self)
        data["partition_date"] = self.partition_date.isoformat()
        data["rows_per_second"] = round(self.rows_per_second, 1)
        data["seconds"] = round(self.seconds, 3)
        return data


def day_window(day: date) -> Window:
    start = datetime.combine(day, clock_time(0), tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


def _rejection(raw: bytes, reason: str) -> dict[str, Any]:
    interaction_id = None
    try:
        parsed = orjson.loads(raw)
        if isinstance(parsed, dict) and isinstance(parsed.get("interaction_id"), str):
            interaction_id = parsed["interaction_id"]
    except orjson.JSONDecodeError:
        pass
    return {"interaction_id": interaction_id, "reason": reason, "raw_json": raw.decode("utf-8", "replace")}


def _is_json_object_or_null(raw: msgspec.Raw) -> bool:
    data = bytes(raw)
    return data[:1] == b"{" or data == b"null"


@dataclass
class ValidatedPage:
    lines: list[bytes] = field(default_factory=list)  # accepted records as JSON lines, ready for DuckDB
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unknown_types: Counter[str] = field(default_factory=Counter)


def validate_record(raw: msgspec.Raw, window: Window, page: ValidatedPage) -> None:
    """Accept one record (append its JSON line) or quarantine it with the reason."""
    data = bytes(raw)
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
        page.rejected.append(_rejection(data, f"not a JSON object: {exc}"))
        return
    if not (_is_json_object_or_null(record.metadata) and _is_json_object_or_null(record.query_snapshot)):
        page.rejected.append(_rejection(data, "metadata and query_snapshot must be JSON objects or null"))
        return
    stamp = (
        record.timestamp if record.timestamp.tzinfo else record.timestamp.replace(tzinfo=UTC)
    )  # naive = UTC
    if not window.start <= stamp < window.end:
        # A record outside the window it was asked for would land in the wrong partition.
        page.rejected.append(_rejection(data, f"timestamp {stamp.isoformat()} outside the requested window"))
        return
    if not KNOWN_INTERACTION_TYPES.issuperset(record.interaction_type):
        for name in record.interaction_type:
            if name.lower() not in KNOWN_INTERACTION_TYPES:
                page.unknown_types[name.lower()] += 1
    page.lines.append(line)


def load_day(
    client: MixpeekClient,
    warehouse_path: str,
    day: date,
    run_id: str,
    *,
    page_size: int = 1000,
    sub_windows: int | None = None,
    memory_limit: str = "512MB",
    pseudonymiser: Pseudonymiser | None = None,
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
) -> LoadReport:
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    stats_before = (client.stats.requests, client.stats.retries, client.stats.throttled)
    report = LoadReport(partition_date=day)
    window = day_window(day)
    fetch = WindowReport()
    params = {"partition_date": day, "loaded_at": datetime.now(UTC), "run_id": run_id}

    con = warehouse.connect(warehouse_path, memory_limit=memory_limit)
    scratch = tempfile.TemporaryDirectory(prefix="interactions-load-")
    try:
        warehouse.ensure_raw_tables(con)
        con.execute("BEGIN TRANSACTION")
        warehouse.run(con, "raw/log_changed_event_dates", **params)  # the days the old rows belonged to
        warehouse.run(con, "raw/delete_interactions_partition", partition_date=day)
        warehouse.run(con, "raw/delete_rejected_partition", partition_date=day)
        pending = ValidatedPage()
        batch_path = Path(scratch.name) / "batch.ndjson"

        def flush() -> None:
            # Accepted records go to DuckDB as JSON lines: its C++ reader types the columns (sql/raw/
            # insert_interactions_batch.sql), so Python never builds a row. Memory holds one batch at a time.
            if pending.lines:
                if pseudonymiser is not None:  # before anything is written, to disk or to DuckDB
                    pending.lines[:] = [pseudonymiser.apply(line) for line in pending.lines]
                batch_path.write_bytes(b"\n".join(pending.lines))
                warehouse.run(con, "raw/insert_interactions_batch", batch_path=str(batch_path), **params)
                pending.lines.clear()
            if pending.rejected:
                if pseudonymiser is not None:
                    for rejection in pending.rejected:
                        rejection["raw_json"] = pseudonymiser.apply(rejection["raw_json"].encode()).decode()
                con.register("rejected_batch", pd.DataFrame(pending.rejected))
                warehouse.run(con, "raw/insert_rejected_batch", **params)
                con.unregister("rejected_batch")
                report.rejected += len(pending.rejected)
                pending.rejected.clear()

        fetcher = WindowFetcher(client, page_size=page_size, sub_windows=sub_windows)
        for page in fetcher.pages(window, fetch):
            report.fetched += len(page)
            for raw in page:
                validate_record(raw, window, pending)
            if len(pending.lines) >= BATCH_ROWS:
                flush()
        flush()
        landed_before_dedupe = warehouse.one(con, "raw/count_interactions_partition", partition_date=day)[0]
        warehouse.run(con, "raw/dedupe_interactions_partition", partition_date=day)
        report.rows = warehouse.one(con, "raw/count_interactions_partition", partition_date=day)[0]
        report.duplicates = landed_before_dedupe - report.rows
        report.server_total, report.total_checked = fetch.server_total, not fetch.unknown_total
        report.window_open = window.end > started_at
        audit_started = time.perf_counter()
        failures = audit_day(con, day, report, max_rejected_share)
        report.audit_seconds = time.perf_counter() - audit_started
        if failures:
            raise LoadAuditError(day, failures)
        warehouse.run(con, "raw/log_changed_event_dates", **params)  # and the days the new rows belong to
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # the transaction may not have begun
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
        scratch.cleanup()

    report.pages = fetch.pages
    report.splits = fetch.splits
    report.paging_mode = fetch.mode
    report.max_offset = fetch.max_offset
    report.unknown_types = dict(pending.unknown_types)
    report.requests = client.stats.requests - stats_before[0]
    report.retries = client.stats.retries - stats_before[1]
    report.throttled = client.stats.throttled - stats_before[2]
    report.seconds = time.perf_counter() - started
    return report


def audit_day(con: Any, day: date, report: LoadReport, max_rejected_share: float) -> list[str]:
    """The blocking audits of a day landed but not yet committed, each failure in words with its figures."""
    failures = []
    report.received = warehouse.one(con, "raw/count_received_partition", partition_date=day)[0]
    if report.total_checked and not report.window_open and report.received != report.server_total:
        failures.append(
            f"{report.received:,} distinct records fetched, the server reports {report.server_total:,}"
        )
    duplicates = warehouse.one(con, "checks/raw_interactions_duplicate_ids", partition_date=day)[0]
    if duplicates:
        failures.append(f"{duplicates:,} rows share an interaction_id with a row of another day")
    negatives = warehouse.one(con, "checks/raw_interactions_negative_positions", partition_date=day)[0]
    if negatives:
        failures.append(f"{negatives:,} rows have a negative position")
    share = report.rejected / report.fetched if report.fetched else 0.0
    if share > max_rejected_share:
        failures.append(
            f"{report.rejected:,} of {report.fetched:,} records quarantined ({share:.2%}, the limit is "
            f"{max_rejected_share:.2%})"
        )
    return failures


def land_records(
    warehouse_path: str | Path, records: Iterable[dict[str, Any]], run_id: str, *, memory_limit: str = "2GB"
) -> int:
    """Land records that did not come through the API (the generator's, for benchmarks and the acceptance
    tests) into raw.interactions, each in the partition of its recorded UTC day, through the same typed insert
    as a load, in one transaction. The records must be valid API records: nothing is validated here.
    Returns the number of rows landed."""
    loaded_at = datetime.now(UTC)
    pending: dict[date, list[bytes]] = {}
    landed = 0
    con = warehouse.connect(warehouse_path, memory_limit=memory_limit)
    scratch = tempfile.TemporaryDirectory(prefix="interactions-land-")
    batch_path = Path(scratch.name) / "batch.ndjson"

    def flush(day: date) -> None:
        batch_path.write_bytes(b"\n".join(pending.pop(day)))
        warehouse.run(con, "raw/insert_interactions_batch", batch_path=str(batch_path),
                      partition_date=day, loaded_at=loaded_at, run_id=run_id)  # fmt: skip

    try:
        warehouse.ensure_raw_tables(con)
        con.execute("BEGIN TRANSACTION")
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
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
        scratch.cleanup()
    return landed
