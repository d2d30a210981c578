"""Paging that is complete by construction.

The list route's traps (api-notes.md): pages hold at most 1000 records, offset stops at 10000, and the default
order is newest first, so offset pages shift while events arrive. So every fetch here is a closed window
[start, end) of `timestamp` (the server's record time, which never changes after the fact) sorted ascending:
- where the server gives `next_cursor`, follow it (keyset cursors neither skip nor repeat);
- where it does not (older servers), page by offset, and never past offset 10000: a window holding more is
  split in two by time, recursively, using `include_total`;
- a window is first cut into sub-windows fetched concurrently within the client's budget;
- each sub-window's count is checked against the server's total.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from interactions_etl.mixpeek.client import MixpeekClient
from interactions_etl.mixpeek.errors import MixpeekApiError
from interactions_etl.mixpeek.models import ListPage

MAX_OFFSET = 10_000
MAX_PAGE = 1000  # the route's largest page
MIN_SPLIT = timedelta(milliseconds=1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """[start, end) on `timestamp`, both timezone-aware."""

    start: datetime
    end: datetime

    def halves(self) -> tuple[Window, Window]:
        middle = self.start + (self.end - self.start) / 2
        return Window(self.start, middle), Window(middle, self.end)

    def split(self, parts: int) -> list[Window]:
        step = (self.end - self.start) / parts
        edges = [self.start + step * i for i in range(parts)] + [self.end]
        return [Window(a, b) for a, b in itertools.pairwise(edges) if b > a]


def window_body(window: Window, retriever_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filters": {
            "AND": [
                {"field": "timestamp", "operator": "gte", "value": iso(window.start)},
                {"field": "timestamp", "operator": "lt", "value": iso(window.end)},
            ]
        },
        "sort": {"field": "timestamp", "direction": "asc"},
    }
    if retriever_id:
        body["retriever_id"] = retriever_id
    return body


@dataclass
class WindowReport:
    """What one fetch found: per leaf window, the server's total and what arrived."""

    server_total: int = 0
    fetched: int = 0
    pages: int = 0
    splits: int = 0
    mode: str = "cursor"  # "cursor" or "offset" (the last leaf's)
    max_offset: int = 0
    unknown_total: bool = False  # a server that gave no total: the count check cannot be made
    unstable_reads: int = 0  # offset reads that repeated records (an unstable order): narrowed or re-read
    rereads: int = 0  # re-reads of a dense millisecond
    unsorted_pages: int = 0  # offset pages not in ascending timestamp order, as asked
    # Each leaf window with the server's total for it, for the audit to say which window disagrees.
    leaves: list[tuple[Window, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_leaf(self, window: Window, total: int | None) -> None:
        if total is not None:
            with self._lock:
                self.leaves.append((window, total))

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, value in deltas.items():
                setattr(self, name, getattr(self, name) + value)


def looks_capped(total: int) -> bool:
    """A total that may be a cap rather than a count: a round thousand from 5,000 up (10,000 among them)."""
    return total >= 5_000 and total % 1_000 == 0


class _Stamp(msgspec.Struct):
    timestamp: datetime | None = None


_STAMP_DECODER = msgspec.json.Decoder(_Stamp)
# Up to this share of a first page may lie outside its window (each such record is quarantined); more means the
# server did not apply the filter, and every sub-window would receive, and quarantine, the same foreign records.
MAX_OUTSIDE_SHARE = 0.5


def _refuse_an_ignored_time_filter(records: list[Any], window: Window) -> None:
    outside = 0
    for raw in records:
        try:
            stamp = _STAMP_DECODER.decode(bytes(raw)).timestamp
        except msgspec.MsgspecError:
            continue  # a broken record: the record validation quarantines it
        if stamp is not None:
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            outside += not window.start <= stamp < window.end
    if records and outside > MAX_OUTSIDE_SHARE * len(records):
        raise MixpeekApiError(
            "POST list",
            status=200,
            error_type="FilterIgnored",
            message=f"the server ignores the time filter: {outside:,} of the {len(records):,} records it sent "
            f"for [{iso(window.start)}, {iso(window.end)}) lie outside it",
        )


class WindowFetcher:
    def __init__(
        self, client: MixpeekClient, *, page_size: int = 1000, sub_windows: int | None = None
    ) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size is 1..1000")
        self.client = client
        self.page_size = page_size
        # One sub-window per request the budget lets fly, so the budget is used when the server allows it.
        self.sub_windows = sub_windows or max(1, client.max_in_flight)

    def pages(self, window: Window, report: WindowReport) -> Iterator[list[Any]]:
        """Every record of `window`, page by page, sub-windows fetched concurrently. Re-raises the first failure."""
        parts = window.split(self.sub_windows)
        if len(parts) == 1:
            yield from self._leaf(parts[0], report)
            return
        pages: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=2 * len(parts))
        stop = threading.Event()

        def run(part: Window) -> None:
            try:
                for page in self._leaf(part, report):
                    while not stop.is_set():
                        try:
                            pages.put(page, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as exc:  # handed to the consumer, which re-raises it
                pages.put(exc)
            finally:
                pages.put(None)

        with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="mixpeek-window") as pool:
            for part in parts:
                pool.submit(run, part)
            finished = 0
            try:
                while finished < len(parts):
                    item = pages.get()
                    if item is None:
                        finished += 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
            finally:
                stop.set()
                while True:  # unblock producers so the pool can shut down
                    try:
                        pages.get_nowait()
                    except queue.Empty:
                        break

    def _leaf(self, window: Window, report: WindowReport) -> Iterator[list[Any]]:
        """A window's records: its first page says how the server pages (a cursor, or offsets), and whether
        its total is a cap rather than a count (then the window is split)."""
        body = window_body(window, self.client.settings.retriever_id)
        first = self.client.list_interactions(body, limit=self.page_size, include_total=True)
        _refuse_an_ignored_time_filter(first.records, window)
        total = first.pagination.total
        if total is not None and looks_capped(total) and window.end - window.start > MIN_SPLIT:
            # A total at a cap (10,000) or another round figure may be the server's ceiling, not the count:
            # split the window and count each half again; splitting only costs requests, never records.
            report.add(splits=1)
            for half in window.halves():
                yield from self._leaf(half, report)
            return
        whole = total is not None and len(first.records) >= total
        if first.pagination.next_cursor or whole or (total is None and len(first.records) < self.page_size):
            # A short first page with a larger total is no proof of the end: a server may serve fewer records
            # per page than asked, so that is offset paging.
            yield from self._by_cursor(window, body, first, report)
        else:
            yield from self._by_offset(window, body, first, report)

    def _by_cursor(
        self, window: Window, body: dict[str, Any], first: ListPage, report: WindowReport
    ) -> Iterator[list[Any]]:
        """Cursor paging (or a window that fits in one page): next_cursor to the end, page by page."""
        total = first.pagination.total
        report.add(server_total=total or 0, pages=1, fetched=len(first.records), unknown_total=total is None)
        report.record_leaf(window, total)
        yield first.records
        pagination = first.pagination
        while pagination.next_cursor:
            page = self.client.list_interactions(body, limit=self.page_size, cursor=pagination.next_cursor)
            pagination = page.pagination
            report.add(pages=1, fetched=len(page.records))
            yield page.records

    def _by_offset(
        self, window: Window, body: dict[str, Any], first: ListPage, report: WindowReport
    ) -> Iterator[list[Any]]:
        """Offset paging, for a server with no cursor: it cannot reach past offset 10000, and an unstable order
        repeats some records and skips others, so a window is narrowed or read again until it adds up."""
        report.mode = "offset"
        total = first.pagination.total
        if total is None:
            raise MixpeekApiError(
                "POST list (offset paging)",
                status=200,
                error_type="UnsupportedServer",
                message="the server gives neither next_cursor nor include_total: a window cannot be paged completely",
            )
        if total > MAX_OFFSET + self.page_size:
            yield from self._split_or_refuse(window, total, report)
            return
        read = self._read_by_offset(body, first, total, report)
        if read is None:  # pages shorter than asked: offset 10000 is reached before the total
            yield from self._split_or_refuse(window, total, report)
            return
        if read.repeats and read.held < total:
            # The order is not stable (records sharing a timestamp come back in another order on each
            # request): narrower windows put each tie group in fewer pages, down to one; a millisecond holding
            # more than a page is read again until the records seen add up to its total.
            report.add(unstable_reads=1)
            if read.pages > 1 and window.end - window.start > MIN_SPLIT:
                report.add(splits=1)
                for half in window.halves():
                    yield from self._leaf(half, report)
                return
            total = self._read_again(body, read, total, report)
        report.add(server_total=total)
        report.record_leaf(window, total)
        yield read.all_records()

    def _read_again(self, body: dict[str, Any], read: _OffsetRead, total: int, report: WindowReport) -> int:
        """Offset passes over one window until the records seen add up to its total (MAX_REREADS at most);
        returns the total as last reported."""
        for _ in range(MAX_REREADS):
            again = self.client.list_interactions(body, limit=self.page_size, include_total=True)
            report.add(pages=1, fetched=len(again.records), rereads=1)
            total = again.pagination.total if again.pagination.total is not None else total
            more = self._read_by_offset(body, again, total, report)
            if more is None:
                break
            read.merge(more)
            if read.held >= total:
                break
        return total

    def copies_held(self, stamps: Mapping[str, Iterable[datetime]]) -> dict[str, int | None]:
        """How many copies of each interaction_id the server holds, read from answers that each hold one whole
        millisecond [t, t + 1 ms) around a timestamp of the id's copies: two copies inside one answer that holds
        its window whole cannot be a paging artifact, and copies in disjoint windows are separate records. None
        for an id one of whose milliseconds holds more records than one answer carries."""
        by_millisecond: dict[datetime, set[str]] = {}
        for interaction_id, moments in stamps.items():
            for moment in moments:
                start = moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
                by_millisecond.setdefault(start, set()).add(interaction_id)
        held: dict[str, int | None] = dict.fromkeys(stamps, 0)

        def probe(start: datetime) -> tuple[datetime, ListPage]:
            body = window_body(Window(start, start + MIN_SPLIT), self.client.settings.retriever_id)
            return start, self.client.list_interactions(body, limit=MAX_PAGE, include_total=True)

        workers = max(1, min(self.client.max_in_flight, len(by_millisecond)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mixpeek-copies") as pool:
            for start, page in pool.map(probe, sorted(by_millisecond)):
                total = page.pagination.total
                wanted = by_millisecond[start]
                if total is None or len(page.records) < total:  # not whole in one answer: proves nothing
                    for interaction_id in wanted:
                        held[interaction_id] = None
                    continue
                found = Counter(
                    key.interaction_id
                    for key in map(_key, page.records)
                    if key is not None and key.interaction_id in wanted
                )
                for interaction_id in wanted:
                    count = held[interaction_id]
                    if count is not None:
                        held[interaction_id] = count + found[interaction_id]
        return held

    def _split_or_refuse(self, window: Window, total: int, report: WindowReport) -> Iterator[list[Any]]:
        if window.end - window.start <= MIN_SPLIT:
            raise MixpeekApiError(
                "POST list (offset paging)",
                status=200,
                error_type="WindowTooDense",
                message=f"{total} records share one millisecond at {iso(window.start)}: cannot page past offset {MAX_OFFSET}",
            )
        report.add(splits=1)
        for half in window.halves():
            yield from self._leaf(half, report)

    def _read_by_offset(
        self, body: dict[str, Any], first: ListPage, total: int, report: WindowReport
    ) -> _OffsetRead | None:
        """One pass over a window by offset, starting from its first page: its records by id, the repeats.
        None when the pages are so short that offset 10000 comes before the total."""
        read = _OffsetRead()
        report.add(unsorted_pages=not read.add(first.records))
        offset = len(first.records)
        while offset < total:
            if offset > MAX_OFFSET:
                return None
            page = self.client.list_interactions(body, limit=self.page_size, offset=offset)
            report.max_offset = max(report.max_offset, offset)
            if not page.records:
                report.add(pages=1)
                break
            report.add(pages=1, fetched=len(page.records), unsorted_pages=not read.add(page.records))
            offset += len(page.records)
        return read


class _Key(msgspec.Struct):
    interaction_id: str | None = None
    timestamp: str | None = None


_KEY_DECODER = msgspec.json.Decoder(_Key)
# Reads of a dense millisecond before its records are left to the audit: a record has at worst about a 1 in 4
# chance of being missed by one read, so 16 reads miss one of 10,000 with a probability near 1e-6.
MAX_REREADS = 16


def _key(raw: Any) -> _Key | None:
    try:
        return _KEY_DECODER.decode(bytes(raw))
    except msgspec.MsgspecError:
        return None  # a broken record: the record validation quarantines it


@dataclass
class _OffsetRead:
    """One or more offset passes over a window. A record seen again in a later answer is a paging artifact (a
    repeat); copies of one id inside one answer are records the server holds more than once, which no paging
    can produce: they are kept, for the landing to prove and count (pipelines/landing/)."""

    records: dict[str, Any] = field(default_factory=dict)  # by interaction_id, first copy kept
    copies: dict[str, list[Any]] = field(default_factory=dict)  # further copies held in one answer, by id
    unidentified: list[Any] = field(default_factory=list)  # no readable id: validation quarantines them
    repeats: int = 0
    pages: int = 0

    @property
    def held(self) -> int:
        """The records the server holds that this read has seen, copies inside one answer included."""
        return len(self.records) + sum(len(extra) for extra in self.copies.values())

    def add(self, page: list[Any]) -> bool:
        """Take in one page, each record decoded once; whether its timestamps are in the ascending order asked
        for (the API's ISO-8601 UTC stamps of one format sort as text)."""
        self.pages += 1
        ascending, previous = True, ""
        in_answer: dict[str, list[Any]] = {}
        for raw in page:
            key = _key(raw)
            if key is not None and key.timestamp:
                ascending = ascending and key.timestamp >= previous
                previous = key.timestamp
            if key is None or key.interaction_id is None:
                self.unidentified.append(raw)
            else:
                in_answer.setdefault(key.interaction_id, []).append(raw)
        for interaction_id, raws in in_answer.items():
            if interaction_id in self.records:
                self.repeats += 1
            else:
                self.records[interaction_id] = raws[0]
            self._keep_copies(interaction_id, raws[1:])
        return ascending

    def _keep_copies(self, interaction_id: str, extra: list[Any]) -> None:
        # The most copies any one answer held: two answers holding two copies each are still two copies.
        if len(extra) > len(self.copies.get(interaction_id, ())):
            self.copies[interaction_id] = extra

    def merge(self, other: _OffsetRead) -> None:
        for interaction_id, raw in other.records.items():
            self.records.setdefault(interaction_id, raw)
        for interaction_id, extra in other.copies.items():
            self._keep_copies(interaction_id, extra)

    def all_records(self) -> list[Any]:
        return [
            *self.records.values(),
            *(raw for extra in self.copies.values() for raw in extra),
            *self.unidentified,
        ]
