"""The position-bias estimators on counts worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.estimators.position_bias import Cells, coverage, debiased_ctr, fit_pbm, naive_ctr, pivot_ratios


def test_one_em_step_matches_the_formulas() -> None:
    # One cell: 10 impressions, 2 clicks, start theta = alpha = 0.5.
    # P(E=1 | C=0) = 0.5 * 0.5 / (1 - 0.25) = 1/3, so expected examinations = 2 + 8/3 = 14/3 of 10.
    fit = fit_pbm(Cells.of([0], [0], [10], [2]), max_iterations=1)
    assert fit.theta[0] == pytest.approx(14 / 30)
    assert fit.alpha[0] == pytest.approx(14 / 30)  # P(A=1 | C=0) is the same expression here
    assert fit.iterations == 1 and not fit.converged


def test_em_recovers_the_curve_from_exact_expected_counts() -> None:
    theta = np.array([0.9, 0.6, 0.3])
    alpha = np.array([0.2, 0.5, 0.8, 0.4])
    pairs, positions = np.meshgrid(np.arange(4), np.arange(3), indexing="ij")
    pairs, positions = pairs.ravel(), positions.ravel()
    shown = np.full(pairs.shape, 1000.0)
    clicks = shown * theta[positions] * alpha[pairs]  # what an infinite sample would show
    fit = fit_pbm(Cells.of(pairs, positions, shown, clicks), tolerance=1e-10, max_iterations=100_000)
    assert fit.converged
    np.testing.assert_allclose(fit.relative_theta, theta / theta[0], atol=1e-4)
    # alpha is identified up to the same scale: alpha * theta_0 is fixed.
    np.testing.assert_allclose(fit.alpha * fit.theta[0], alpha * theta[0], atol=1e-4)


def test_naive_ctr_coverage_and_pivot_by_hand() -> None:
    # pair A shown at 0 (10 imp, 5 clicks) and at 1 (4 imp, 1 click); pair B at 0 (20 imp, 4 clicks) and 1
    # (10 imp, 1 click); pair C only at 0 (6 imp, 0 clicks).
    cells = Cells.of([0, 0, 1, 1, 2], [0, 1, 0, 1, 0], [10, 4, 20, 10, 6], [5, 1, 4, 1, 0])
    np.testing.assert_allclose(naive_ctr(cells), [9 / 36, 2 / 14])
    assert coverage(cells) == pytest.approx(44 / 50)
    # Pivot with weights = pair traffic: A 14, B 30. CTRs: A 0.5 -> 0.25, B 0.2 -> 0.1.
    expected = (14 * 0.25 + 30 * 0.1) / (14 * 0.5 + 30 * 0.2)
    np.testing.assert_allclose(pivot_ratios(cells), [1.0, expected])
    # With explicit weights (the queries' traffic), A 1 and B 3: (0.25 + 0.3) / (0.5 + 0.6) = 0.5.
    np.testing.assert_allclose(pivot_ratios(cells, np.array([1.0, 3.0, 5.0])), [1.0, 0.5])


def test_a_deterministic_ranker_has_no_coverage_and_no_pivot() -> None:
    cells = Cells.of([0, 1, 2], [0, 1, 2], [100, 100, 100], [50, 20, 5])
    assert coverage(cells) == 0.0
    ratios = pivot_ratios(cells)
    assert ratios[0] == 1.0 and np.isnan(ratios[1:]).all()


def test_debiased_ctr_is_clicks_over_expected_examinations() -> None:
    # A document shown 3 times at positions with theta 0.8, 0.4, 0.4 and clicked twice: 2 / 1.6.
    np.testing.assert_allclose(debiased_ctr(np.array([2.0, 0.0]), np.array([1.6, 0.0])), [1.25, np.nan])


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="clicks"):
        Cells.of([0], [0], [3], [4])
    with pytest.raises(ValueError, match="same length"):
        Cells.of([0, 1], [0], [3], [1])


def test_restricting_to_well_sampled_pairs_renumbers_them() -> None:
    cells = Cells.of([0, 0, 1, 2, 2], [0, 1, 0, 0, 1], [60, 50, 30, 100, 1], [6, 2, 3, 10, 0])
    kept = cells.restricted_to_pairs_with(100)  # pair 0 has 110, pair 1 has 30, pair 2 has 101
    assert kept.pair.tolist() == [0, 0, 1, 1] and kept.position.tolist() == [0, 1, 0, 1]
    assert kept.impressions.tolist() == [60, 50, 100, 1] and kept.clicks.tolist() == [6, 2, 10, 0]
