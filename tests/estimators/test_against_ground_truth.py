"""The estimators against the generator's known truth (issue 4's acceptance figures, on counts taken straight
from the synthetic records; the marts' end-to-end version runs them on warehouse counts).

About 200k searches: the fitted theta_k / theta_0 must be within 0.02 of the true curve on every device while
the naive CTR curve is off by more; a deterministic ranker leaves nothing to identify the curve with.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import numpy as np
import pytest

from pipelines.emulator.generator import TrafficConfig, generate_traffic
from pipelines.estimators.position_bias import Cells, coverage, fit_pbm, naive_ctr, pivot_ratios

MIN_PAIR_IMPRESSIONS = 100


def cells_by_device(config: TrafficConfig) -> tuple[dict[str, Cells], dict]:
    traffic = generate_traffic(config)
    untracked = {s.retriever_id for s in config.retrievers if not s.tracks_impressions}
    shown: dict[tuple, float] = defaultdict(float)
    clicked: dict[tuple, float] = defaultdict(float)
    for r in traffic.records():
        if r["retriever_id"] in untracked:
            continue
        key = (r["metadata"]["device"], r["query_snapshot"]["text"], r["feature_id"], r["position"])
        if r["interaction_type"] == ["impression"]:
            shown[key] += 1
        elif "click" in r["interaction_type"]:
            clicked[key] += 1
    by_device: dict[str, Cells] = {}
    for device in ("mobile", "desktop", "tablet"):
        keys = [k for k in shown if k[0] == device]
        pair_ids: dict[tuple, int] = {}
        pair = [pair_ids.setdefault(k[1:3], len(pair_ids)) for k in keys]
        by_device[device] = Cells.of(pair, [k[3] for k in keys], [shown[k] for k in keys],
                                     [clicked.get(k, 0.0) for k in keys])  # fmt: skip
    return by_device, traffic.ground_truth()


@pytest.fixture(scope="module")
def varied() -> tuple[dict[str, Cells], dict]:
    return cells_by_device(TrafficConfig(seed=5, start=date(2026, 9, 1), days=4, per_day=800_000))


def test_about_200k_searches(varied) -> None:
    _, truth = varied
    assert 190_000 <= truth["counts"]["executions"] <= 230_000


@pytest.mark.parametrize("device", ["mobile", "desktop", "tablet"])
def test_em_recovers_the_examination_curve_and_naive_ctr_does_not(varied, device: str) -> None:
    by_device, truth = varied
    cells = by_device[device]
    true_curve = np.array(truth["examination_relative"][device])
    fit = fit_pbm(cells.restricted_to_pairs_with(MIN_PAIR_IMPRESSIONS))
    assert fit.converged
    em_error = np.abs(fit.relative_theta - true_curve).max()
    naive = naive_ctr(cells)
    naive_error = np.abs(naive / naive[0] - true_curve).max()
    assert em_error <= 0.02, (device, fit.relative_theta.round(3), true_curve)
    assert naive_error > 0.02 and naive_error > 2 * em_error, (device, naive_error, em_error)
    assert coverage(cells) > 0.9


@pytest.mark.parametrize("device", ["mobile", "desktop", "tablet"])
def test_the_pivot_cross_check_agrees(varied, device: str) -> None:
    by_device, truth = varied
    pivot = pivot_ratios(by_device[device])
    true_curve = np.array(truth["examination_relative"][device])
    assert np.nanmax(np.abs(pivot - true_curve)) <= 0.03


def test_a_deterministic_ranker_cannot_identify_the_curve() -> None:
    by_device, truth = cells_by_device(
        TrafficConfig.deterministic(seed=2, start=date(2026, 9, 1), days=1, per_day=60_000)
    )
    assert truth["position_variation"]["pairs_shown_at_two_or_more_positions"] == 0
    for cells in by_device.values():
        assert coverage(cells) == 0.0
        assert np.isnan(pivot_ratios(cells)[1:]).all()
