"""Two kinds of data with known truth for the estimator tests.

- Counts only (`varied_cells`, `deterministic_cells`): cells per (device, query, document, position) simulated
  from the generator's click model with numpy (tests/estimators/simulation.py), for the estimators' statistical
  tests: a million searches in a few seconds.
- The generator's records landed in a warehouse, staged and with the marts built (`varied`, `deterministic`),
  for the one slow end-to-end path, tests/estimators/test_marts_against_ground_truth.py; the counts of the same
  records are taken as they stream past, so the marts can be checked against them exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from interactions_etl.estimators.position_bias import Cells, CurveSettings
from interactions_etl.marts import MartsSettings
from mixpeek_emulator.generator import TrafficConfig, generate_traffic
from tests.conftest import build_warehouse
from tests.estimators.simulation import DEVICES, SimulatedCells, simulate_cells

# The shipped settings, but 30 bootstrap replicates instead of 100: the intervals are not under test here.
MARTS_SETTINGS = MartsSettings(curve=CurveSettings(bootstrap_replicates=30))


# -- counts only -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def varied_cells() -> SimulatedCells:
    """A million searches of the generator's default world and retrievers (rankers with noise and A/B arms:
    documents move between positions), 100k of them on tablets; about 4 s."""
    return simulate_cells(TrafficConfig(seed=5), searches=1_000_000)


@pytest.fixture(scope="session")
def deterministic_cells() -> SimulatedCells:
    """One noiseless ranker: every (query, document) at one position, so nothing identifies the curve."""
    return simulate_cells(TrafficConfig.deterministic(seed=2), searches=20_000)


# -- records through the warehouse -----------------------------------------------------------------------------


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
    cells_by_device: dict[str, Cells]  # counted from the records, before they were landed
    warehouse_path: Path  # the same records, landed, staged and with the marts built


def known_traffic(config: TrafficConfig, path: Path) -> KnownTraffic:
    traffic = generate_traffic(config)
    counts = SlotCounts({s.retriever_id for s in config.retrievers if not s.tracks_impressions})
    build_warehouse(path, counts.observe(traffic.records()), "ground-truth", MARTS_SETTINGS)
    return KnownTraffic(traffic.ground_truth(), {d: counts.cells(d) for d in DEVICES}, path)


# 1.6M records, about 97k searches, a third on each device; test_marts_against_ground_truth.py says why this
# size and what it can show. Generating, landing, staging and the marts: about 110 s on two idle cores.
VARIED_CONFIG = TrafficConfig(
    seed=5,
    start=date(2026, 9, 1),
    days=2,
    per_day=800_000,
    device_shares={"mobile": 1 / 3, "desktop": 1 / 3, "tablet": 1 / 3},
)


@pytest.fixture(scope="session")
def varied(tmp_path_factory: pytest.TempPathFactory) -> KnownTraffic:
    """Rankers with noise and A/B arms: documents move between positions."""
    return known_traffic(VARIED_CONFIG, tmp_path_factory.mktemp("varied") / "w.duckdb")


@pytest.fixture(scope="session")
def deterministic(tmp_path_factory: pytest.TempPathFactory) -> KnownTraffic:
    """Every (query, document) at one position: nothing identifies the curve."""
    config = TrafficConfig.deterministic(seed=2, start=date(2026, 9, 1), days=1, per_day=60_000)
    return known_traffic(config, tmp_path_factory.mktemp("deterministic") / "w.duckdb")
