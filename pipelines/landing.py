"""Land one UTC day of interactions into `raw.interactions`, exactly once (Dagster-free: the asset wraps it).

The day is replaced in one transaction: delete the partition, stream the window's pages in batches, drop
duplicate ids, commit. A failure anywhere rolls back, so the warehouse is as it was; a re-run gives the same
table. Records that fail validation go to `raw.rejected_interactions` with the reason and the raw JSON.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import orjson
import pandas as pd
from pydantic import TypeAdapter, ValidationError

from pipelines import warehouse
from pipelines.mixpeek.client import MixpeekClient
from pipelines.mixpeek.models import Interaction
from pipelines.mixpeek.paging import Window, WindowFetcher, WindowReport

_PAGE = TypeAdapter(list[Interaction])
BATCH_ROWS = 20_000  # rows per INSERT: large enough to amortise, small enough to keep memory flat


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


def _json_or_none(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _columns(models: list[Interaction]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "interaction_id": [m.interaction_id for m in models],
            "feature_id": [m.feature_id for m in models],
            "interaction_type": [m.interaction_type for m in models],
            "position": pd.array([m.position for m in models], dtype="int32"),
            "metadata": [_json_or_none(m.metadata) for m in models],
            "user_id": [m.user_id for m in models],
            "session_id": [m.session_id for m in models],
            "execution_id": [m.execution_id for m in models],
            "retriever_id": [m.retriever_id for m in models],
            "query_snapshot": [_json_or_none(m.query_snapshot) for m in models],
            "document_score": pd.array([m.document_score for m in models], dtype="Float64"),
            "result_set_size": pd.array([m.result_set_size for m in models], dtype="Int32"),
            "feature_uri": [m.feature_uri for m in models],
            "occurred_at": pd.to_datetime([m.occurred_at for m in models], utc=True),
            "timestamp": pd.to_datetime([m.timestamp for m in models], utc=True),
            "deduplicated": pd.array([m.deduplicated for m in models], dtype="boolean"),
            "warning": [m.warning for m in models],
            "extra": [_json_or_none(m.model_extra) if m.model_extra else None for m in models],
        }
    )


def _rejection(raw: Any, error: ValidationError | str) -> dict[str, Any]:
    if isinstance(error, ValidationError):
        reason = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
    else:
        reason = error
    interaction_id = raw.get("interaction_id") if isinstance(raw, dict) else None
    return {
        "interaction_id": interaction_id if isinstance(interaction_id, str) else None,
        "reason": reason,
        "raw_json": orjson.dumps(raw, default=str).decode(),
    }


def validate_page(page: list[Any], window: Window) -> tuple[list[Interaction], list[dict[str, Any]]]:
    """Fast path validates the page at once; a failure re-validates record by record to quarantine the bad."""
    try:
        models = _PAGE.validate_python(page)
        bad: list[dict[str, Any]] = []
    except ValidationError:
        models, bad = [], []
        for raw in page:
            try:
                models.append(Interaction.model_validate(raw))
            except ValidationError as exc:
                bad.append(_rejection(raw, exc))
    # A record outside the window it was asked for would land in the wrong partition: quarantine it.
    kept = []
    for model in models:
        if window.start <= model.timestamp < window.end:
            kept.append(model)
        else:
            bad.append(
                _rejection(
                    model.model_dump(mode="json"),
                    f"timestamp {model.timestamp.isoformat()} outside the requested window",
                )
            )
    return kept, bad


def load_day(
    client: MixpeekClient,
    warehouse_path: str,
    day: date,
    run_id: str,
    *,
    page_size: int = 1000,
    sub_windows: int | None = None,
    memory_limit: str = "1GB",
) -> LoadReport:
    started = time.perf_counter()
    stats_before = (client.stats.requests, client.stats.retries, client.stats.throttled)
    report = LoadReport(partition_date=day)
    window = day_window(day)
    fetch = WindowReport()
    params = {"partition_date": day, "loaded_at": datetime.now(UTC), "run_id": run_id}
    unknown: Counter[str] = Counter()

    con = warehouse.connect(warehouse_path, memory_limit=memory_limit)
    try:
        warehouse.ensure_raw_tables(con)
        con.execute("BEGIN TRANSACTION")
        warehouse.run(con, "raw/delete_interactions_partition", partition_date=day)
        warehouse.run(con, "raw/delete_rejected_partition", partition_date=day)
        pending: list[Interaction] = []
        rejected: list[dict[str, Any]] = []

        def flush() -> None:
            # Batches are registered by name for the SQL files (which read `interactions_batch`,
            # `rejected_batch`), then dropped: memory holds one batch at a time.
            if pending:
                con.register("interactions_batch", _columns(pending))
                warehouse.run(con, "raw/insert_interactions_batch", **params)
                con.unregister("interactions_batch")
                pending.clear()
            if rejected:
                con.register("rejected_batch", pd.DataFrame(rejected))
                warehouse.run(con, "raw/insert_rejected_batch", **params)
                con.unregister("rejected_batch")
                report.rejected += len(rejected)
                rejected.clear()

        fetcher = WindowFetcher(client, page_size=page_size, sub_windows=sub_windows)
        for page in fetcher.pages(window, fetch):
            report.fetched += len(page)
            good, bad = validate_page(page, window)
            for model in good:
                for t in model.unknown_types():
                    unknown[t] += 1
            pending.extend(good)
            rejected.extend(bad)
            if len(pending) >= BATCH_ROWS:
                flush()
        flush()
        landed_before_dedupe = con.execute(
            "SELECT count(*) FROM raw.interactions WHERE partition_date = $partition_date",
            {"partition_date": day},
        ).fetchone()[0]
        warehouse.run(con, "raw/dedupe_interactions_partition", partition_date=day)
        report.rows = con.execute(
            "SELECT count(*) FROM raw.interactions WHERE partition_date = $partition_date",
            {"partition_date": day},
        ).fetchone()[0]
        report.duplicates = landed_before_dedupe - report.rows
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # the transaction may not have begun
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()

    report.server_total = fetch.server_total
    report.total_checked = not fetch.unknown_total
    report.pages = fetch.pages
    report.splits = fetch.splits
    report.paging_mode = fetch.mode
    report.max_offset = fetch.max_offset
    report.unknown_types = dict(unknown)
    report.requests = client.stats.requests - stats_before[0]
    report.retries = client.stats.retries - stats_before[1]
    report.throttled = client.stats.throttled - stats_before[2]
    report.seconds = time.perf_counter() - started
    return report
