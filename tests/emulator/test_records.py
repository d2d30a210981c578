"""The emulator's time helpers: format_instant is arithmetic for speed, so it is held to strftime's output."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from mixpeek_emulator.records import format_instant, parse_instant


def by_strftime(micros: int) -> str:
    moment = datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(microsecond=micros % 1_000_000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_format_instant_writes_what_strftime_writes() -> None:
    rng = random.Random(7)
    edges = [0, 1, -1, 999_999, 1_000_000, 951_782_400_000_000 - 1, 951_782_400_000_000,  # 2000-02-29
             1_767_225_600_000_000 - 1, 253_402_300_799_999_999]  # a new year's eve, the last instant of 9999  # fmt: skip
    for micros in edges + [rng.randrange(-(10**16), 10**17) for _ in range(50_000)]:
        assert format_instant(micros) == by_strftime(micros), micros


def test_format_and_parse_round_trip() -> None:
    rng = random.Random(8)
    for micros in (rng.randrange(0, 4 * 10**15) for _ in range(5_000)):
        assert parse_instant(format_instant(micros)) == micros
