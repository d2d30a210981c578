"""One generated traffic sample with known truth (about 200k searches), shared by the estimator tests (counts
taken straight from the records) and the marts' end-to-end tests (the same records landed in a warehouse).
Generating it takes about a minute, so it is generated once per session."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from interactions_etl import warehouse
from interactions_etl.emulator.generator import TrafficConfig, generate_traffic
from interactions_etl.estimators.position_bias import Cells, CurveSettings
from interactions_etl.landing import land_records
from interactions_etl.marts import MartsSettings, refresh_marts
from interactions_etl.staging import refresh_staging

DEVICES = ("mobile", "desktop", "tablet")
# The shipped settings, but 30 bootstrap replicates instead of 100: the intervals are not under test here.
MARTS_SETTINGS = MartsSettings(curve=CurveSettings(bootstrap_replicates=30))


class SlotCounts:
    """Impressions and clicks per (device, query, document, position) of the retrievers that send impressions,
    counted as the records stream past."""

    def __init__(self, untracked_retrievers: set[str]) -> None:
        self.untracked = untracked_retrievers
        self.shown: dict[tuple, float] = defaultdict(float)
        self.clicked: dict[tuple, float] = defaultdict(float)

    def observe(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for r in records:
            if r["retriever_id"] not in self.untracked:
                key = (r["metadata"]["device"], r["query_snapshot"]["text"], r["feature_id"], r["position"])
                if r["interaction_type"] == ["impression"]:
                    self.shown[key] += 1
                elif "click" in r["interaction_type"]:
                    self.clicked[key] += 1
            yield r

    def cells(self, device: str) -> Cells:
        keys = [k for k in self.shown if k[0] == device]
        pair_ids: dict[tuple, int] = {}
        pair = [pair_ids.setdefault(k[1:3], len(pair_ids)) for k in keys]
        return Cells.of(pair, [k[3] for k in keys], [self.shown[k] for k in keys],
                        [self.clicked.get(k, 0.0) for k in keys])  # fmt: skip


@dataclass(frozen=True)
class KnownTraffic:
    truth: dict[str, Any]
    cells_by_device: dict[str, Cells]
    warehouse_path: Path  # the same records, landed, staged and with the marts built


def known_traffic(config: TrafficConfig, path: Path) -> KnownTraffic:
    traffic = generate_traffic(config)
    counts = SlotCounts({s.retriever_id for s in config.retrievers if not s.tracks_impressions})
    land_records(path, counts.observe(traffic.records()), "ground-truth")
    con = warehouse.connect(path)
    try:
        refresh_staging(con)
        refresh_marts(con, MARTS_SETTINGS)
    finally:
        con.close()
    return KnownTraffic(traffic.ground_truth(), {d: counts.cells(d) for d in DEVICES}, path)


@pytest.fixture(scope="session")
def varied(tmp_path_factory: pytest.TempPathFactory) -> KnownTraffic:
    """Rankers with noise and A/B arms: documents move between positions."""
    config = TrafficConfig(seed=5, start=date(2026, 9, 1), days=4, per_day=800_000)
    return known_traffic(config, tmp_path_factory.mktemp("varied") / "w.duckdb")


@pytest.fixture(scope="session")
def deterministic(tmp_path_factory: pytest.TempPathFactory) -> KnownTraffic:
    """Every (query, document) at one position: nothing identifies the curve."""
    config = TrafficConfig.deterministic(seed=2, start=date(2026, 9, 1), days=1, per_day=60_000)
    return known_traffic(config, tmp_path_factory.mktemp("deterministic") / "w.duckdb")
