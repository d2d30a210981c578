"""Position bias under the position-based model (metrics.md): P(click | q, d, k) = theta_k * alpha_qd.

Everything here works on aggregated counts, one cell per (query-document pair, position) with its impressions
and clicks: those are the EM's sufficient statistics, so a warehouse query hands over a few hundred thousand
cells instead of every slot. numpy only; no Dagster, no DuckDB.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

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
        drags the curve with it (the incidental-parameters problem). Measured on issue 4's generated traffic: with
        no minimum, a device with 19k searches was off by 0.07; with 100, by 0.012.
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
    max_change: float  # what the stopping rule measured on the last EM step (the curve's change, by default)

    @property
    def relative_theta(self) -> FloatArray:
        """theta_k / theta_0: the curve the marts publish (the model fixes theta only up to scale)."""
        return self.theta / self.theta[0]


class _EMStep:
    """One EM iteration of the position-based model on fixed cells, and the log-likelihood it climbs."""

    def __init__(self, cells: Cells) -> None:
        self.n_positions, self.n_pairs = cells.n_positions, cells.n_pairs
        self.position, self.pair = cells.position, cells.pair
        self.clicked = cells.clicks
        self.unclicked = cells.impressions - cells.clicks
        self.shown_at = np.bincount(self.position, weights=cells.impressions, minlength=self.n_positions)
        self.shown_for = np.bincount(self.pair, weights=cells.impressions, minlength=self.n_pairs)
        # Positions or pairs never shown keep their value and stay out of the convergence test.
        self.seen_at, self.seen_for = self.shown_at > 0, self.shown_for > 0

    def __call__(self, theta: FloatArray, alpha: FloatArray) -> tuple[FloatArray, FloatArray]:
        t, a = theta[self.position], alpha[self.pair]
        not_clicked = np.maximum(1.0 - t * a, 1e-12)
        examined = self.clicked + self.unclicked * t * (1.0 - a) / not_clicked
        attracted = self.clicked + self.unclicked * (1.0 - t) * a / not_clicked
        new_theta, new_alpha = theta.copy(), alpha.copy()
        seen_at, seen_for = self.seen_at, self.seen_for
        new_theta[seen_at] = (
            np.bincount(self.position, weights=examined, minlength=self.n_positions)[seen_at]
            / self.shown_at[seen_at]
        )
        new_alpha[seen_for] = (
            np.bincount(self.pair, weights=attracted, minlength=self.n_pairs)[seen_for]
            / self.shown_for[seen_for]
        )
        return new_theta, new_alpha

    def log_likelihood(self, theta: FloatArray, alpha: FloatArray) -> float:
        p = np.clip(theta[self.position] * alpha[self.pair], 1e-12, 1.0 - 1e-12)
        return float(np.sum(self.clicked * np.log(p) + self.unclicked * np.log1p(-p)))


def _largest_change(old: tuple[FloatArray, FloatArray], new: tuple[FloatArray, FloatArray]) -> float:
    return max(float(np.max(np.abs(n - o), initial=0.0)) for o, n in zip(old, new, strict=True))


# What the EM's stopping rule looks at: "curve", theta_k / theta_0 (what the marts publish) and the
# log-likelihood; "parameters", theta and every alpha (the rule before issue 31, kept for benchmarks/em_convergence.py).
StoppingRule = Literal["curve", "parameters"]
# The log-likelihood must also have settled, relative to its size: a curve that pauses while the alphas still climb
# is not a fixed point. 1e-11 of a likelihood summed over a segment's impressions is far below one click's worth.
LIKELIHOOD_TOLERANCE = 1e-11


class _Stopping:
    """Whether one plain EM step from `old` to `new` says the fit has converged, and the change it measured."""

    def __init__(self, step: _EMStep, rule: StoppingRule, tolerance: float) -> None:
        self.step, self.rule, self.tolerance = step, rule, tolerance

    def change(self, old: tuple[FloatArray, FloatArray], new: tuple[FloatArray, FloatArray]) -> float:
        if self.rule == "parameters":
            return _largest_change(old, new)
        seen = self.step.seen_at
        if not seen.any():
            return 0.0
        before, after = old[0][seen] / old[0][0], new[0][seen] / new[0][0]
        return float(np.max(np.abs(after - before)))

    def converged(
        self, old: tuple[FloatArray, FloatArray], new: tuple[FloatArray, FloatArray], change: float
    ) -> bool:
        if change >= self.tolerance:
            return False
        if self.rule == "parameters":
            return True
        before, after = self.step.log_likelihood(*old), self.step.log_likelihood(*new)
        return abs(after - before) <= LIKELIHOOD_TOLERANCE * max(abs(before), 1.0)


def fit_pbm(
    cells: Cells,
    *,
    tolerance: float = 1e-6,
    max_iterations: int = 5000,
    start: PBMFit | None = None,
    stop_on: StoppingRule = "curve",
) -> PBMFit:
    """EM for the position-based model on counts (metrics.md, "Position bias").

    E-step, for the unclicked share of a cell: P(E=1 | C=0) = theta (1 - alpha) / (1 - theta alpha) and
    P(A=1 | C=0) = (1 - theta) alpha / (1 - theta alpha); a click means E = A = 1.
    M-step: theta_k = expected examinations at k / impressions at k; alpha_p likewise over the pair's cells.
    Starts at 0.5 everywhere (or at `start`, a fit on the same pairs and positions, as bootstrap replicates do).

    Stops when one plain EM step moves the curve theta_k / theta_0 by less than `tolerance` at every position
    and the log-likelihood by less than LIKELIHOOD_TOLERANCE of itself (`stop_on="curve"`). The rule before
    issue 31 (`stop_on="parameters"`) also waited for every alpha: the alpha of a pair seen a handful of times
    sits near 0 or 1, where EM creeps, and held segments at the 5,000-iteration cap while their curve had long
    settled (docs/benchmarks.md, "EM convergence").

    Plain EM creeps towards the optimum of this model (hundreds to thousands of iterations), so the iterations
    are accelerated with SQUAREM (Varadhan and Roland, Scand. J. Statist. 2008): two EM steps give a direction,
    a step along it is taken, then one EM step from there; a step that ends below the likelihood it started from is
    dropped for the plain two-step result. The fixed point is EM's own; `iterations` counts EM steps.
    """
    step = _EMStep(cells)
    stopping = _Stopping(step, stop_on, tolerance)
    params = (np.full(step.n_positions, 0.5), np.full(step.n_pairs, 0.5))
    if start is not None:
        if len(start.theta) != step.n_positions or len(start.alpha) != step.n_pairs:
            raise ValueError("a start fit must have the same positions and pairs as the cells")
        params = (start.theta.copy(), start.alpha.copy())
    iterations, change, converged = 0, np.inf, False
    while iterations < max_iterations:
        once = step(*params)
        iterations += 1
        change = stopping.change(params, once)
        if stopping.converged(params, once, change):
            params, converged = once, True
            break
        if max_iterations - iterations < 2:  # no room for an accelerated cycle: plain EM to the cap
            params = once
            continue
        twice = step(*once)
        iterations += 1
        r = [o - p for o, p in zip(once, params, strict=True)]
        v = [t - o - d for t, o, d in zip(twice, once, r, strict=True)]
        r_norm = np.sqrt(sum(float(np.sum(x * x)) for x in r))
        v_norm = np.sqrt(sum(float(np.sum(x * x)) for x in v))
        # SqS3 step length, never shorter than the plain two steps (s = -1 gives exactly `twice`).
        s = min(-r_norm / v_norm, -1.0) if v_norm > 0 else -1.0
        jumped = tuple(
            np.clip(p - 2.0 * s * d + s * s * w, 1e-9, 1.0) for p, d, w in zip(params, r, v, strict=True)
        )
        settled = step(*jumped)
        iterations += 1
        params = settled if step.log_likelihood(*settled) >= step.log_likelihood(*params) else twice
    return PBMFit(params[0], params[1], iterations, converged, change)


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


# -- the curve of one segment, with its bootstrap ------------------------------------------------------------

UIntArray = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]

# P(Poisson(1) <= k), k = 0..19: the inverse CDF turns a uniform into a Poisson(1) bootstrap weight.
_POISSON_1_CDF = np.cumsum([np.exp(-1.0) / float(np.prod(np.arange(1, k + 1))) for k in range(20)])


def _splitmix64(x: UIntArray) -> UIntArray:
    """A counter-based hash (Steele et al., SplitMix64): the same key and replicate give the same weight on every
    run and in every segment, without drawing one number per execution from a stateful generator."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def poisson_weights(execution_keys: UIntArray, replicate: int, seed: int = 0) -> FloatArray:
    """Poisson(1) weight of each execution in bootstrap replicate `replicate` (the Poisson bootstrap: resampling
    executions with replacement, one independent weight each, so it can run on any subset of the data)."""
    with np.errstate(over="ignore"):
        salt = np.uint64((seed * 1_000_003 + replicate + 1) * 0x632BE59BD9B4E019 % 2**64)
        bits = _splitmix64(_splitmix64(execution_keys ^ salt))
    uniform = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.searchsorted(_POISSON_1_CDF, uniform, side="right").astype(np.float64)


@dataclass(frozen=True)
class ShownSlots:
    """Shown result slots, one entry each: the pair (a hash of query and document), the position, the
    execution (a hash of its id: the bootstrap's resampling unit) and whether it was clicked."""

    pair_key: UIntArray
    position: IntArray
    execution_key: UIntArray
    clicked: BoolArray

    def __len__(self) -> int:
        return len(self.position)

    def where(self, mask: BoolArray) -> ShownSlots:
        return ShownSlots(
            self.pair_key[mask], self.position[mask], self.execution_key[mask], self.clicked[mask]
        )


@dataclass(frozen=True)
class CurveSettings:
    min_pair_impressions: int = (
        100  # pairs seen less often stay out of the EM (see Cells.restricted_to_pairs_with)
    )
    min_coverage: float = 0.1  # below this share of impressions with position variation: not identifiable
    # With no clicks at a position among the fitted pairs, EM drives theta_k to the boundary (0): a number that
    # says nothing, and a debiased CTR divided by it explodes. Positions need this many fitted clicks.
    min_position_clicks: int = 10
    bootstrap_replicates: int = 100
    seed: int = 0
    tolerance: float = 1e-6
    max_iterations: int = 5000
    # A replicate's curve settles long before its parameters do (pairs with a few weighted impressions sit on
    # the alpha = 1 boundary, where EM crawls). Measured on the generator's traffic (3M desktop slots): 30
    # iterations from the point estimate are within 2.4e-5 of a fit run to 3000, against intervals 0.01 wide.
    bootstrap_tolerance: float = 1e-5
    bootstrap_max_iterations: int = 30


@dataclass(frozen=True)
class CurveEstimate:
    """Per position 0..n-1 of one segment. `examination` (theta_k / theta_0) and its interval are NaN where the
    curve is not identified; `notes` says why, per position ('' where it is)."""

    impressions: FloatArray
    clicks: FloatArray
    naive_ctr: FloatArray
    pivot: FloatArray
    examination: FloatArray
    examination_low: FloatArray
    examination_high: FloatArray
    position_coverage: FloatArray  # share of the fitted impressions at k whose pair is also fitted elsewhere
    identifiable: BoolArray
    notes: list[str]
    coverage: float
    fitted_pairs: int
    fitted_impressions: float
    iterations: int
    converged: bool
    max_change: float
    replicates: int


def _cells_of(slots: ShownSlots) -> tuple[Cells, IntArray]:
    """Aggregate slots into cells (pairs renumbered 0..n-1); also each slot's cell index, so a bootstrap
    replicate can re-weight the slots without aggregating again."""
    _, pair = np.unique(slots.pair_key, return_inverse=True)
    n_positions = int(slots.position.max()) + 1
    keys, cell_index = np.unique(pair * n_positions + slots.position, return_inverse=True)
    cells = Cells(
        pair=(keys // n_positions).astype(np.int64),
        position=(keys % n_positions).astype(np.int64),
        impressions=np.bincount(cell_index, minlength=len(keys)).astype(np.float64),
        clicks=np.bincount(cell_index, weights=slots.clicked.astype(np.float64), minlength=len(keys)),
    )
    return cells, cell_index.astype(np.int64)


def _padded(values: FloatArray, length: int) -> FloatArray:
    out = np.full(length, np.nan)
    out[: min(len(values), length)] = values[:length]
    return out


def _per_position(cells: Cells, weights: FloatArray, length: int) -> FloatArray:
    return np.bincount(cells.position, weights=weights, minlength=length)[:length].astype(np.float64)


def estimate_curve(slots: ShownSlots, settings: CurveSettings | None = None) -> CurveEstimate:
    """The examination curve of one segment (metrics.md): EM on the pairs with enough impressions, a Poisson
    bootstrap over executions for 95% percentile intervals (replicates start at the point estimate), the naive
    CTR curve and the pivot cross-check on every pair, and the identifiability verdict per position."""
    settings = settings or CurveSettings()
    if len(slots) == 0:
        raise ValueError("a curve needs at least one shown slot")
    every, every_index = _cells_of(slots)
    length = every.n_positions
    impressions = _per_position(every, every.impressions, length)
    clicks = _per_position(every, every.clicks, length)
    segment_coverage = coverage(every)

    per_pair = np.bincount(every.pair, weights=every.impressions)
    kept_pairs = per_pair >= settings.min_pair_impressions
    kept_cells = kept_pairs[every.pair]
    slot_kept = kept_cells[every_index]
    fitted_slots = slots.where(slot_kept)
    nothing = np.full(length, np.nan)
    if len(fitted_slots) == 0:
        note = f"no (query, document) pair has {settings.min_pair_impressions} impressions in the window"
        return CurveEstimate(
            impressions, clicks, naive_ctr(every), pivot_ratios(every), nothing, nothing, nothing, nothing,
            np.zeros(length, dtype=bool), [note] * length, segment_coverage, 0, 0.0, 0, False, np.nan, 0,
        )  # fmt: skip

    # The fitted cells are a subset of every cell: renumber instead of aggregating again.
    cells = Cells(
        pair=(np.cumsum(kept_pairs) - 1)[every.pair[kept_cells]],
        position=every.position[kept_cells],
        impressions=every.impressions[kept_cells],
        clicks=every.clicks[kept_cells],
    )
    cell_index = (np.cumsum(kept_cells) - 1)[every_index[slot_kept]]
    fit = fit_pbm(cells, tolerance=settings.tolerance, max_iterations=settings.max_iterations)
    fitted_at = _per_position(cells, cells.impressions, length)
    varied = np.bincount(cells.pair, minlength=cells.n_pairs)[cells.pair] >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        position_coverage = np.where(
            fitted_at > 0, _per_position(cells, cells.impressions * varied, length) / fitted_at, np.nan
        )

    curves = np.full((settings.bootstrap_replicates, length), np.nan)
    executions, execution_index = np.unique(fitted_slots.execution_key, return_inverse=True)
    clicked = fitted_slots.clicked.astype(np.float64)
    for replicate in range(settings.bootstrap_replicates):
        weight = poisson_weights(executions, replicate, settings.seed)[execution_index]
        resampled = Cells(
            pair=cells.pair,
            position=cells.position,
            impressions=np.bincount(cell_index, weights=weight, minlength=len(cells.pair)),
            clicks=np.bincount(cell_index, weights=weight * clicked, minlength=len(cells.pair)),
        )
        replicate_fit = fit_pbm(
            resampled,
            tolerance=settings.bootstrap_tolerance,
            max_iterations=settings.bootstrap_max_iterations,
            start=fit,
        )
        curves[replicate] = _padded(replicate_fit.relative_theta, length)
    if settings.bootstrap_replicates:
        # A position no replicate reached stays NaN (NULL in the mart); numpy warns about it, we expect it.
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanpercentile(curves, [2.5, 97.5], axis=0)
    else:
        low, high = nothing, nothing

    clicked_at = _per_position(cells, cells.clicks, length)
    notes = _not_identifiable_because(
        settings, segment_coverage, fit, fitted_at, clicked_at, position_coverage
    )
    identifiable = np.array([note == "" for note in notes])
    examination = np.where(identifiable, _padded(fit.relative_theta, length), np.nan)
    return CurveEstimate(
        impressions=impressions,
        clicks=clicks,
        naive_ctr=naive_ctr(every),
        pivot=pivot_ratios(every),
        examination=examination,
        examination_low=np.where(identifiable, low, np.nan),
        examination_high=np.where(identifiable, high, np.nan),
        position_coverage=position_coverage,
        identifiable=identifiable,
        notes=notes,
        coverage=segment_coverage,
        fitted_pairs=cells.n_pairs,
        fitted_impressions=float(cells.impressions.sum()),
        iterations=fit.iterations,
        converged=fit.converged,
        max_change=fit.max_change,
        replicates=settings.bootstrap_replicates,
    )


def _not_identifiable_because(
    settings: CurveSettings,
    segment_coverage: float,
    fit: PBMFit,
    fitted_at: FloatArray,
    clicked_at: FloatArray,
    position_coverage: FloatArray,
) -> list[str]:
    """Per position, why theta_k / theta_0 cannot be published ('' when it can). Written for the people who read
    the report: a deterministic ranker gives EM a smooth curve that is wrong, so it must not be drawn."""
    length = len(fitted_at)
    if segment_coverage < settings.min_coverage:
        return [
            f"only {segment_coverage:.1%} of impressions show a (query, document) pair at more than one "
            f"position (at least {settings.min_coverage:.0%} needed): position and relevance cannot be told apart"
        ] * length
    if not fit.converged:
        # The whole segment's curve is withheld: a fixed point not reached is no estimate (issue 31).
        return [
            f"EM did not converge in {fit.iterations} iterations "
            f"(its last step still moved the curve by {fit.max_change:.1g})"
        ] * length
    notes = []
    for k in range(length):
        if fitted_at[k] == 0:
            notes.append(
                f"no (query, document) pair with {settings.min_pair_impressions} impressions was shown here"
            )
        elif clicked_at[k] < settings.min_position_clicks:
            notes.append(
                f"only {clicked_at[k]:.0f} clicks here among the well-sampled pairs "
                f"(at least {settings.min_position_clicks} needed)"
            )
        elif position_coverage[k] < settings.min_coverage:
            notes.append(
                f"only {position_coverage[k]:.1%} of impressions here are of pairs also shown elsewhere"
            )
        else:
            notes.append("")
    if notes[0]:
        # Rank 1 is the reference every other rank is measured against.
        return [f"rank 1, the reference, is not identified: {notes[0]}"] * length
    return notes
