"""The audits of a day landed but not yet committed (Dagster-free): every distinct record the server counted
arrived (copies the server proves it holds counted), ids unique across days, positions >= 0, the quarantined
share under its limit; each failure in words with its figures, and the day's report of what was fetched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from interactions_etl import warehouse
from interactions_etl.mixpeek.paging import Window, WindowFetcher

DEFAULT_MAX_REJECTED_SHARE = 0.01


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


def prove_copies(fetcher: WindowFetcher, copies: list[tuple[Any, ...]], report: LoadReport) -> None:
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
