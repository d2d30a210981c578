"""In-memory storage of interactions, per namespace, with ordered indexes for keyset pagination.

Why in memory with sorted indexes rather than SQLite or DuckDB: a list page must cost the same on the first and
the last cursor page at a million records. Every sort order is a SortedList of (sort key, seq); a cursor names the
last key served, so the next page is a bisect plus a walk of `limit` entries, whatever the depth. Records are
immutable once written, so a cursor neither skips nor repeats a record while others are inserted or deleted.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sortedcontainers import SortedList

from mixpeek_emulator.filters import MISSING, CompiledQuery, TimeRange, resolve_field
from mixpeek_emulator.records import StoredRecord, make_stored

DEDUP_WINDOW_US = 5 * 60 * 1_000_000  # create-time dedup window (api-notes.md)
SEQ_MAX = sys.maxsize

# Sort keys must compare across types the way a document store orders them: null < numbers < strings < objects
# < arrays < booleans (MongoDB's BSON order, which the service's listing follows).
_RANK_NULL, _RANK_NUMBER, _RANK_STRING, _RANK_OBJECT, _RANK_ARRAY, _RANK_BOOL = range(6)

SortKey = tuple[Any, ...]


def sort_value_key(value: Any) -> SortKey:
    if value is None or value is MISSING:
        return (_RANK_NULL, 0)
    if isinstance(value, bool):
        return (_RANK_BOOL, int(value))
    if isinstance(value, int | float):
        return (_RANK_NUMBER, value)
    if isinstance(value, str):
        return (_RANK_STRING, value)
    if isinstance(value, list):
        return (_RANK_ARRAY, tuple(orjson.dumps(v).decode() for v in value))
    return (_RANK_OBJECT, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


def _freeze(value: Any) -> Any:
    """JSON turns tuples into lists; sort keys must be tuples again to compare."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class SortSpec:
    field: str = "timestamp"
    descending: bool = True

    @property
    def is_timestamp(self) -> bool:
        return self.field in ("timestamp", "created_at")


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    sort_field: str
    descending: bool
    key: SortKey  # sort key of the last record served
    seq: int
    query_fingerprint: str
    page: int  # the page number the cursor leads to

    def encode(self) -> str:
        payload = orjson.dumps(
            {
                "f": self.sort_field,
                "d": int(self.descending),
                "k": self.key,
                "s": self.seq,
                "q": self.query_fingerprint,
                "p": self.page,
            }
        )
        return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()

    @staticmethod
    def decode(token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            raw = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
            return Cursor(
                sort_field=str(raw["f"]),
                descending=bool(raw["d"]),
                key=_freeze(raw["k"]),
                seq=int(raw["s"]),
                query_fingerprint=str(raw["q"]),
                page=int(raw["p"]),
            )
        except Exception as exc:  # any garbage in an opaque token is the caller's error
            raise CursorError("cursor is not a cursor this server issued") from exc


def query_fingerprint(body: dict[str, Any] | None) -> str:
    """Ties a cursor to the query that issued it (the sort is checked separately)."""
    canonical = orjson.dumps(
        {k: v for k, v in (body or {}).items() if k != "sort"}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


@dataclass
class Page:
    records: list[StoredRecord]
    next_cursor: str | None
    total: int | None
    page: int


@dataclass
class NamespaceStore:
    """All interactions of one namespace."""

    namespace_id: str
    name: str
    _records: dict[int, StoredRecord] = field(default_factory=dict)
    _by_id: dict[str, int] = field(default_factory=dict)
    _timestamp_index: SortedList = field(default_factory=SortedList)
    _field_indexes: dict[str, SortedList] = field(default_factory=dict)
    _dedup: dict[tuple[str, str, tuple[str, ...]], int] = field(default_factory=dict)
    _next_seq: int = 0

    def __len__(self) -> int:
        return len(self._records)

    # -- writes ---------------------------------------------------------------------------------------------

    def insert(self, data: dict[str, Any]) -> StoredRecord:
        record = make_stored(self._next_seq, data)
        self._next_seq += 1
        self._records[record.seq] = record
        self._by_id[data["interaction_id"]] = record.seq
        self._timestamp_index.add((record.ts_us, record.seq))
        for field_path, index in self._field_indexes.items():
            index.add((sort_value_key(resolve_field(record, field_path)), record.seq))
        return record

    def bulk_insert(self, rows: Iterable[dict[str, Any]]) -> int:
        """Pre-fill fast path: one index rebuild instead of a sorted insert per record."""
        added: list[tuple[int, int]] = []
        for data in rows:
            record = make_stored(self._next_seq, data)
            self._next_seq += 1
            self._records[record.seq] = record
            self._by_id[data["interaction_id"]] = record.seq
            added.append((record.ts_us, record.seq))
        self._timestamp_index.update(added)
        self._field_indexes.clear()  # rebuilt lazily on the next sort that needs them
        return len(added)

    def delete(self, interaction_id: str) -> bool:
        seq = self._by_id.pop(interaction_id, None)
        if seq is None:
            return False
        record = self._records.pop(seq)
        self._timestamp_index.remove((record.ts_us, record.seq))
        for field_path, index in self._field_indexes.items():
            index.remove((sort_value_key(resolve_field(record, field_path)), record.seq))
        return True

    def is_duplicate(self, key: tuple[str, str, tuple[str, ...]], now_us: int) -> bool:
        """Create-time dedup of (execution_id, feature_id, interaction_type) within 5 minutes."""
        last = self._dedup.get(key)
        if last is not None and now_us - last < DEDUP_WINDOW_US:
            return True
        self._dedup[key] = now_us
        if len(self._dedup) > 200_000:  # forget entries that can no longer match
            self._dedup = {k: t for k, t in self._dedup.items() if now_us - t < DEDUP_WINDOW_US}
        return False

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, interaction_id: str) -> StoredRecord | None:
        seq = self._by_id.get(interaction_id)
        return None if seq is None else self._records[seq]

    def _index_for(self, sort: SortSpec) -> tuple[SortedList, Callable[[StoredRecord], SortKey]]:
        if sort.is_timestamp:
            return self._timestamp_index, lambda r: (r.ts_us,)
        index = self._field_indexes.get(sort.field)
        if index is None:
            index = SortedList(
                (sort_value_key(resolve_field(r, sort.field)), r.seq) for r in self._records.values()
            )
            self._field_indexes[sort.field] = index
        return index, lambda r: (sort_value_key(resolve_field(r, sort.field)),)

    def list(
        self,
        query: CompiledQuery,
        sort: SortSpec,
        *,
        limit: int,
        offset: int,
        cursor: Cursor | None,
        include_total: bool,
        fingerprint: str,
    ) -> Page:
        index, key_of = self._index_for(sort)
        # The timestamp index can be bounded by the time range; any other index checks it per record.
        bounded = sort.is_timestamp and query.time_range is not None
        lower, upper = _entry_bounds(query.time_range) if bounded else (None, None)
        residual = query.predicate if bounded else _combined(query)

        if cursor is not None:
            # Resume strictly after the last entry served: entries are (key, seq), seq is an int.
            if sort.descending:
                upper = _min_key(upper, (*cursor.key, cursor.seq - 1))
            else:
                lower = _max_key(lower, (*cursor.key, cursor.seq + 1))
            page_number = cursor.page
            skip = 0
        else:
            page_number = offset // limit + 1
            skip = offset

        entries = self._walk(index, lower, upper, sort.descending, skip if residual is None else 0)
        matched: Iterator[StoredRecord] = (self._records[e[-1]] for e in entries)
        if residual is not None:
            matched = (r for r in matched if residual(r))
            matched = itertools.islice(matched, skip, None)
        window = list(itertools.islice(matched, limit + 1))

        next_cursor = None
        if len(window) > limit:
            last = window[limit - 1]
            next_cursor = Cursor(
                sort_field=sort.field,
                descending=sort.descending,
                key=key_of(last),
                seq=last.seq,
                query_fingerprint=fingerprint,
                page=page_number + 1,
            ).encode()
            window = window[:limit]

        total = None
        if include_total:
            total = self.count(query)
        return Page(records=window, next_cursor=next_cursor, total=total, page=page_number)

    def count(self, query: CompiledQuery) -> int:
        lower, upper = _entry_bounds(query.time_range)
        index = self._timestamp_index
        lo = 0 if lower is None else index.bisect_left(lower)
        hi = len(index) if upper is None else index.bisect_right(upper)
        if query.predicate is None:
            return max(0, hi - lo)
        records = self._records
        predicate = query.predicate
        return sum(1 for e in index.islice(lo, hi) if predicate(records[e[1]]))

    @staticmethod
    def _walk(
        index: SortedList, lower: SortKey | None, upper: SortKey | None, descending: bool, skip: int
    ) -> Iterator[tuple[Any, ...]]:
        lo = 0 if lower is None else index.bisect_left(lower)
        hi = len(index) if upper is None else index.bisect_right(upper)
        if descending:
            return index.islice(lo, max(lo, hi - skip), reverse=True)
        return index.islice(min(hi, lo + skip), hi)


def _combined(query: CompiledQuery) -> Callable[[StoredRecord], bool] | None:
    if query.time_range is None:
        return query.predicate
    return query.matches


def _entry_bounds(time_range: TimeRange | None) -> tuple[SortKey | None, SortKey | None]:
    """Index entries are (ts_us, seq): express open and closed bounds through the seq component."""
    if time_range is None:
        return None, None
    lower = upper = None
    if time_range.lower_us is not None:
        lower = (time_range.lower_us, 0 if time_range.lower_inclusive else SEQ_MAX)
    if time_range.upper_us is not None:
        upper = (time_range.upper_us, SEQ_MAX if time_range.upper_inclusive else -1)
    return lower, upper


def _max_key(a: SortKey | None, b: SortKey) -> SortKey:
    return b if a is None or b > a else a


def _min_key(a: SortKey | None, b: SortKey) -> SortKey:
    return b if a is None or b < a else a
