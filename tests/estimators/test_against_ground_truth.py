"""The estimators against the known truth (issue 4's acceptance figures) on counts simulated from the generator's
click model (tests/estimators/simulation.py); tests/estimators/test_marts_against_ground_truth.py runs the
generator's own records through the warehouse.

The fitted theta_k / theta_0 must be within 0.02 of the true curve on every device while the naive CTR curve is
off by more; a deterministic ranker leaves nothing to identify the curve with.

The sample: a million simulated searches, 100k of them on tablets, the device with the fewest. Issue 4 set its
figures on about 200k searches (the generator's 3.2M records), where they hold on tablets (20k searches) only
narrowly: over ten simulated worlds of that size, the tablets' largest EM error averages 0.019 and reaches 0.033,
the pivot's reaches 0.041 (the generator's own 3.2M records, seed 5: 0.019 and 0.008). At a million searches,
the largest over ten worlds are 0.012 (EM, any device) and 0.025 (pivot), and 0.005 and 0.016 in the world used
here: the tolerances below are issue 4's and hold with room.
"""

from __future__ import annotations

import numpy as np
import pytest

from interactions_etl.estimators.position_bias import coverage, fit_pbm, naive_ctr, pivot_ratios
from tests.estimators.conftest import DEVICES, SimulatedCells

MIN_PAIR_IMPRESSIONS = 100


def test_the_sample_the_tolerances_are_set_for(varied_cells: SimulatedCells) -> None:
    counts = varied_cells.truth["counts"]
    assert counts["executions"] == 1_000_000
    assert 95_000 <= counts["executions_by_device"]["tablet"] <= 105_000
    # Documents move between positions: nearly every pair shown is shown at two or more.
    variation = varied_cells.truth["position_variation"]
    assert variation["pairs_shown_at_two_or_more_positions"] > 0.9 * variation["pairs_shown"]


@pytest.mark.parametrize("device", DEVICES)
def test_em_recovers_the_examination_curve_and_naive_ctr_does_not(
    varied_cells: SimulatedCells, device: str
) -> None:
    cells = varied_cells.cells_by_device[device]
    true_curve = np.array(varied_cells.truth["examination_relative"][device])
    fit = fit_pbm(cells.restricted_to_pairs_with(MIN_PAIR_IMPRESSIONS))
    assert fit.converged
    em_error = np.abs(fit.relative_theta - true_curve).max()
    naive = naive_ctr(cells)
    naive_error = np.abs(naive / naive[0] - true_curve).max()
    assert em_error <= 0.02, (device, fit.relative_theta.round(3), true_curve)
    assert naive_error > 0.02 and naive_error > 2 * em_error, (device, naive_error, em_error)
    assert coverage(cells) > 0.9


@pytest.mark.parametrize("device", DEVICES)
def test_the_pivot_cross_check_agrees(varied_cells: SimulatedCells, device: str) -> None:
    pivot = pivot_ratios(varied_cells.cells_by_device[device])
    true_curve = np.array(varied_cells.truth["examination_relative"][device])
    assert np.nanmax(np.abs(pivot - true_curve)) <= 0.03


def test_a_deterministic_ranker_cannot_identify_the_curve(deterministic_cells: SimulatedCells) -> None:
    assert deterministic_cells.truth["position_variation"]["pairs_shown_at_two_or_more_positions"] == 0
    for cells in deterministic_cells.cells_by_device.values():
        assert coverage(cells) == 0.0
        assert np.isnan(pivot_ratios(cells)[1:]).all()
