"""Cutting a refresh's days into batches that fit DuckDB's memory limit (Dagster-free; issue 32).

One statement over a month of events needs memory in proportion to the month (the execution tables' GROUP BY
execution and window over sessions, the marts' joins on executions), and a backfill's refresh ran out of memory
at 512MB. A refresh runs each of its statements over batches instead: runs of consecutive calendar days whose
rows together stay under what the connection's memory limit holds, a day larger than that on its own. The size
follows the limit, so the limit stays the one setting: more memory, fewer and larger batches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import duckdb

from interactions_etl import warehouse

# The memory a batch may count on per interaction it holds: at a 512MB limit, 7 days of 150,000 interactions
# (490 bytes each) refreshed and 14 days (245 bytes each) ran out of memory in insert_result_slots; twice the
# first leaves room for heavier days (docs/benchmarks.md#memory).
BYTES_PER_ROW = 1024
# What DuckDB holds whatever the batch (one day of 20,000 interactions ran out of memory at 48MB): the batch
# gets the rest of the limit. At 64MB or less, every day is its own batch.
RESERVED_BYTES = 64 * 2**20
_SIZE = re.compile(r"([\d.]+)\s*(bytes|KiB|MiB|GiB|TiB|PiB)")
_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's memory limit, which DuckDB reports in words (e.g. `488.2 MiB`)."""
    found = warehouse.one(con, "checks/memory_limit")
    matched = _SIZE.fullmatch(str(found[0]).strip()) if found else None
    if matched is None:
        raise ValueError(f"DuckDB reported a memory limit of {found!r}")
    return int(float(matched.group(1)) * _UNITS[matched.group(2)])


def rows_per_batch(con: duckdb.DuckDBPyConnection) -> int:
    return max(1, (memory_limit_bytes(con) - RESERVED_BYTES) // BYTES_PER_ROW)


def day_batches(
    days: Iterable[date], rows_by_day: Mapping[date, int], rows_per_batch: int
) -> list[list[date]]:
    """The days, sorted, in runs of consecutive calendar days holding at most rows_per_batch rows (a larger day
    alone). A gap starts a new batch: a statement reads its batch's days from first to last, gaps included."""
    batches: list[list[date]] = []
    held = 0
    for day in sorted(set(days)):
        rows = rows_by_day.get(day, 0)
        if batches and batches[-1][-1] + timedelta(days=1) == day and held + rows <= rows_per_batch:
            batches[-1].append(day)
            held += rows
        else:
            batches.append([day])
            held = rows
    return batches
