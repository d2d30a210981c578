"""The position-bias estimators on counts worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from interactions_etl.estimators.position_bias import (
    Cells,
    CurveSettings,
    ShownSlots,
    coverage,
    debiased_ctr,
    estimate_curve,
    fit_pbm,
    naive_ctr,
    pivot_ratios,
    poisson_weights,
)


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


def plain_em_over_slots(pair, position, clicked, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """The textbook EM of metrics.md, slot by slot, unaccelerated: the reference the counts version must meet."""
    theta = np.full(position.max() + 1, 0.5)
    alpha = np.full(pair.max() + 1, 0.5)
    for _ in range(iterations):
        t, a = theta[position], alpha[pair]
        examined = np.where(clicked, 1.0, t * (1 - a) / (1 - t * a))
        attracted = np.where(clicked, 1.0, (1 - t) * a / (1 - t * a))
        theta = np.bincount(position, weights=examined) / np.bincount(position)
        alpha = np.bincount(pair, weights=attracted) / np.bincount(pair)
    return theta, alpha


def test_the_accelerated_fit_on_counts_reaches_the_plain_slot_level_em() -> None:
    rng = np.random.default_rng(3)
    true_theta, true_alpha = np.array([0.9, 0.6, 0.4, 0.25]), rng.uniform(0.1, 0.7, 12)
    pair = rng.integers(0, 12, 6000)
    position = rng.integers(0, 4, 6000)
    clicked = rng.random(6000) < true_theta[position] * true_alpha[pair]
    theta, alpha = plain_em_over_slots(pair, position, clicked, 20_000)
    cells = {}
    for p, k, c in zip(pair, position, clicked, strict=True):
        shown, hits = cells.get((p, k), (0, 0))
        cells[(p, k)] = (shown + 1, hits + int(c))
    keys = sorted(cells)
    fit = fit_pbm(
        Cells.of(
            [k[0] for k in keys],
            [k[1] for k in keys],
            [cells[k][0] for k in keys],
            [cells[k][1] for k in keys],
        ),
        tolerance=1e-10,
        max_iterations=20_000,
    )
    assert fit.converged and fit.iterations < 2_000  # SQUAREM: far fewer steps than plain EM needs
    # The model fixes theta and alpha only up to a common scale (theta c, alpha / c click alike), and the two
    # paths stop at different points of that ridge: compare what is identified.
    np.testing.assert_allclose(fit.relative_theta, theta / theta[0], atol=1e-6)
    np.testing.assert_allclose(fit.alpha * fit.theta[0], alpha * theta[0], atol=1e-6)


def test_poisson_bootstrap_weights_are_poisson_1_and_repeatable() -> None:
    keys = np.arange(200_000, dtype=np.uint64) * np.uint64(2654435761)
    weights = poisson_weights(keys, replicate=0)
    assert weights.mean() == pytest.approx(1.0, abs=0.01)
    assert weights.var() == pytest.approx(1.0, abs=0.02)
    assert np.mean(weights == 0) == pytest.approx(np.exp(-1), abs=0.005)
    np.testing.assert_array_equal(weights, poisson_weights(keys, replicate=0))
    other = poisson_weights(keys, replicate=1)
    assert np.corrcoef(weights, other)[0, 1] == pytest.approx(0.0, abs=0.01)  # replicates are independent
    assert not np.array_equal(poisson_weights(keys, replicate=0, seed=1), weights)


def test_estimate_curve_on_slots_flags_what_it_cannot_identify() -> None:
    # Pair 1 is shown at positions 0 and 1, pair 2 only at 2: position 2 has no variation.
    pair = np.array([1] * 200 + [2] * 100, dtype=np.uint64)
    position = np.array([0] * 100 + [1] * 100 + [2] * 100)
    clicked = np.zeros(300, dtype=bool)
    clicked[:40] = True  # 40 % at the top
    clicked[100:120] = True  # 20 % at position 1
    clicked[200:210] = True
    slots = ShownSlots(pair, position, np.arange(300, dtype=np.uint64), clicked)
    estimate = estimate_curve(slots, CurveSettings(min_pair_impressions=50, bootstrap_replicates=20))
    assert estimate.examination[1] == pytest.approx(0.5, abs=1e-4)  # one pair: its CTR ratio
    assert estimate.examination_low[1] <= 0.5 <= estimate.examination_high[1]
    assert estimate.identifiable.tolist() == [True, True, False]
    assert np.isnan(estimate.examination[2]) and "also shown elsewhere" in estimate.notes[2]
    assert estimate.coverage == pytest.approx(200 / 300)
    few = estimate_curve(slots, CurveSettings(min_pair_impressions=500, bootstrap_replicates=0))
    assert not few.identifiable.any() and "500 impressions" in few.notes[0]


def test_a_position_without_clicks_is_not_identified() -> None:
    # Pair 1 at positions 0 and 1, pair 2 at 0 and 2; nobody clicks at position 2: theta_2 would be 0 by fiat.
    pair = np.array([1] * 200 + [2] * 200, dtype=np.uint64)
    position = np.array([0] * 100 + [1] * 100 + [0] * 100 + [2] * 100)
    clicked = np.zeros(400, dtype=bool)
    clicked[:40] = clicked[100:120] = clicked[200:230] = True
    slots = ShownSlots(pair, position, np.arange(400, dtype=np.uint64), clicked)
    estimate = estimate_curve(slots, CurveSettings(min_pair_impressions=50, bootstrap_replicates=0))
    assert estimate.identifiable.tolist() == [True, True, False]
    assert "only 0 clicks" in estimate.notes[2] and np.isnan(estimate.examination[2])
