"""Position bias under the position-based model (metrics.md): P(click | q, d, k) = theta_k * alpha_qd.

Everything here works on aggregated counts, one cell per (query-document pair, position) with its impressions
and clicks: those are the EM's sufficient statistics, so a warehouse query hands over a few hundred thousand
cells instead of every slot. numpy only; no Dagster, no DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Cells:
    """Counts per (pair, position). `pair` indexes query-document pairs 0..n_pairs-1; positions are 0-based."""

    pair: IntArray
    position: IntArray
    impressions: FloatArray  # float: bootstrap replicates carry fractional weights
    clicks: FloatArray

    def __post_init__(self) -> None:
        sizes = {len(self.pair), len(self.position), len(self.impressions), len(self.clicks)}
        if len(sizes) != 1:
            raise ValueError("pair, position, impressions and clicks must have the same length")
        if np.any(self.clicks > self.impressions) or np.any(self.clicks < 0):
            raise ValueError("clicks must be between 0 and impressions in every cell")
        if np.any(self.position < 0) or np.any(self.pair < 0):
            raise ValueError("positions and pair ids are non-negative")

    @property
    def n_pairs(self) -> int:
        return int(self.pair.max()) + 1 if len(self.pair) else 0

    @property
    def n_positions(self) -> int:
        return int(self.position.max()) + 1 if len(self.position) else 0

    def restricted_to_pairs_with(self, min_impressions: float) -> Cells:
        """Only the pairs shown at least `min_impressions` times, renumbered 0..n-1.

        Every pair brings a parameter of its own (alpha); a pair seen a handful of times fits its own noise and
        drags the curve with it (the incidental-parameters problem). Measured on the generator's traffic
        (tests/estimators/test_against_ground_truth.py): with no minimum, a device with 19k searches is off by 0.07; with 100, by 0.012.
        """
        per_pair = np.bincount(self.pair, weights=self.impressions, minlength=self.n_pairs)
        keep = per_pair[self.pair] >= min_impressions
        _, renumbered = np.unique(self.pair[keep], return_inverse=True)
        return Cells(
            pair=renumbered.astype(np.int64),
            position=self.position[keep],
            impressions=self.impressions[keep],
            clicks=self.clicks[keep],
        )

    @staticmethod
    def of(pair: object, position: object, impressions: object, clicks: object) -> Cells:
        return Cells(
            pair=np.asarray(pair, dtype=np.int64),
            position=np.asarray(position, dtype=np.int64),
            impressions=np.asarray(impressions, dtype=np.float64),
            clicks=np.asarray(clicks, dtype=np.float64),
        )


@dataclass(frozen=True)
class PBMFit:
    theta: FloatArray  # examination probability per position (absolute, up to the model's scale)
    alpha: FloatArray  # attractiveness per pair
    iterations: int
    converged: bool
    max_change: float  # the largest parameter change of the last iteration

    @property
    def relative_theta(self) -> FloatArray:
        """theta_k / theta_0: the curve the marts publish (the model fixes theta only up to scale)."""
        return self.theta / self.theta[0]


def fit_pbm(cells: Cells, *, tolerance: float = 1e-6, max_iterations: int = 5000) -> PBMFit:
    """EM for the position-based model on counts (metrics.md, "Position bias").

    E-step, for the unclicked share of a cell: P(E=1 | C=0) = theta (1 - alpha) / (1 - theta alpha) and
    P(A=1 | C=0) = (1 - theta) alpha / (1 - theta alpha); a click means E = A = 1.
    M-step: theta_k = expected examinations at k / impressions at k; alpha_p likewise over the pair's cells.
    Starts at 0.5 everywhere and stops when no parameter moves by more than `tolerance`.
    """
    n_positions, n_pairs = cells.n_positions, cells.n_pairs
    position, pair = cells.position, cells.pair
    shown, clicked = cells.impressions, cells.clicks
    unclicked = shown - clicked
    shown_at = np.bincount(position, weights=shown, minlength=n_positions)
    shown_for = np.bincount(pair, weights=shown, minlength=n_pairs)
    # Positions or pairs never shown keep their start value and stay out of the convergence test.
    seen_at, seen_for = shown_at > 0, shown_for > 0
    theta = np.full(n_positions, 0.5)
    alpha = np.full(n_pairs, 0.5)
    change = np.inf
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        t, a = theta[position], alpha[pair]
        not_clicked = np.maximum(1.0 - t * a, 1e-12)
        examined = clicked + unclicked * t * (1.0 - a) / not_clicked
        attracted = clicked + unclicked * (1.0 - t) * a / not_clicked
        new_theta = theta.copy()
        new_alpha = alpha.copy()
        new_theta[seen_at] = (
            np.bincount(position, weights=examined, minlength=n_positions)[seen_at] / shown_at[seen_at]
        )
        new_alpha[seen_for] = (
            np.bincount(pair, weights=attracted, minlength=n_pairs)[seen_for] / shown_for[seen_for]
        )
        change = max(
            float(np.max(np.abs(new_theta - theta), initial=0.0)),
            float(np.max(np.abs(new_alpha - alpha), initial=0.0)),
        )
        theta, alpha = new_theta, new_alpha
        if change < tolerance:
            return PBMFit(theta, alpha, iteration, True, change)
    return PBMFit(theta, alpha, iteration, False, change)


def naive_ctr(cells: Cells) -> FloatArray:
    """Clicks / impressions per position: the curve that position bias and ranking quality both bend."""
    n_positions = cells.n_positions
    shown = np.bincount(cells.position, weights=cells.impressions, minlength=n_positions)
    clicked = np.bincount(cells.position, weights=cells.clicks, minlength=n_positions)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shown > 0, clicked / shown, np.nan)


def coverage(cells: Cells) -> float:
    """Share of impressions whose pair is shown at two or more positions: without it the curve is not identified."""
    shown = cells.impressions > 0
    positions_per_pair = np.bincount(cells.pair[shown], minlength=cells.n_pairs)
    varied = positions_per_pair[cells.pair] >= 2
    total = float(cells.impressions[shown].sum())
    return float(cells.impressions[shown & varied].sum()) / total if total else 0.0


def pivot_ratios(cells: Cells, pair_weight: FloatArray | None = None) -> FloatArray:
    """Intervention-harvesting cross-check (Agarwal et al., WSDM 2019): theta_k / theta_0 from the pairs shown
    both at 0 and at k, as sum_p w_p CTR_p(k) / sum_p w_p CTR_p(0).

    The paper weights each pair by the inverse of the propensity that the rankers put it at that position;
    with the rankers' placements summarised by counts, that is proportional to the pair's traffic, which is the
    default weight here (impressions of the pair); pass `pair_weight` to use the query's traffic instead.
    NaN where no pair was shown at both positions.
    """
    n_positions, n_pairs = cells.n_positions, cells.n_pairs
    weight = (
        pair_weight
        if pair_weight is not None
        else np.bincount(cells.pair, weights=cells.impressions, minlength=n_pairs)
    )
    ctr = np.full((n_pairs, n_positions), np.nan)
    shown = cells.impressions > 0
    ctr[cells.pair[shown], cells.position[shown]] = cells.clicks[shown] / cells.impressions[shown]
    ratios = np.full(n_positions, np.nan)
    ratios[0] = 1.0
    at_top = ~np.isnan(ctr[:, 0])
    for k in range(1, n_positions):
        both = at_top & ~np.isnan(ctr[:, k])
        top = float(np.sum(weight[both] * ctr[both, 0]))
        if both.any() and top > 0:
            ratios[k] = float(np.sum(weight[both] * ctr[both, k])) / top
    return ratios


def debiased_ctr(clicks: FloatArray, examinations: FloatArray) -> FloatArray:
    """Ratio estimator: sum of clicks / sum of theta_hat at the positions shown (metrics.md); NaN over zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(examinations > 0, clicks / examinations, np.nan)
