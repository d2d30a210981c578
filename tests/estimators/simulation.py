"""Counts per (device, query, document, position) from the generator's click model, simulated with numpy.

The estimators work on counts only (Cells), so their tests need no records: this draws the cells the generator's
traffic would give, with the generator's parameters (mixpeek_emulator.generator: the examination
curves and page sizes, and from TrafficConfig the retrievers, device shares, numbers of queries, documents and
candidates), a million searches in about 4 s where the generator would take some 12 minutes (44 µs per record,
16 records per search). What is kept from the generator:

- the world: queries with Zipf-like traffic, 25-60 candidates each, alpha ~ Beta(1.2, 3) clipped to
  [0.01, 0.95], the rankers' view of relevance logit(alpha) + N(0, 0.7), a popularity prior per document;
- per search: a device, a retriever (an A/B arm), zero results for a few (more often in the tail); each retriever
  scores relevance_weight * relevance + popularity_weight * popularity + N(0, ranking_noise), so documents move
  between positions (what identifies the curve), except under a deterministic ranker; the page is the top
  PAGE_SIZE[device]; a retriever that sends no impressions leaves no cells;
- clicks ~ Binomial(impressions, theta_device[k] * alpha): the generator clicks each slot independently with that
  probability, so given its impressions a cell's clicks are exactly binomial.

Left out, as they change no cell's clicks given its impressions: sessions, refinements (after a search without a
click, a related query: about 7% of searches), timestamps, late records, the events after a click. The world is
drawn from the same distributions, not the generator's very draws, so a seed gives another world than the
generator's. test_marts_against_ground_truth.py checks that the counts look like the generator's at the same
size (impressions, pairs, well-sampled pairs, CTR and coverage per device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from interactions_etl.estimators.position_bias import Cells
from mixpeek_emulator.generator import (
    EXAMINATION,
    PAGE_SIZE,
    RetrieverSpec,
    TrafficConfig,
    examination_curve,
)

DEVICES = ("mobile", "desktop", "tablet")


@dataclass(frozen=True)
class SimulatedCells:
    truth: dict[str, Any]  # the keys of the generator's ground_truth() the estimator tests read
    cells_by_device: dict[str, Cells]


def known_truth() -> dict[str, Any]:
    """The generator's true curves, exactly as its ground_truth() states them."""
    return {
        "examination": {d: examination_curve(d, PAGE_SIZE[d]) for d in EXAMINATION},
        "examination_relative": {
            d: [round(t / examination_curve(d, 1)[0], 6) for t in examination_curve(d, PAGE_SIZE[d])]
            for d in EXAMINATION
        },
        "page_size": dict(PAGE_SIZE),
    }


def simulate_cells(config: TrafficConfig, searches: int) -> SimulatedCells:
    """`searches` executions of `config`'s world and retrievers (its `days` and `per_day` are not used)."""
    rng = np.random.default_rng(config.seed)
    n_queries, n_documents = config.n_queries, config.n_documents
    devices = list(config.device_shares)
    specs: tuple[RetrieverSpec, ...] = config.retrievers

    # The world, as the generator's _World draws it.
    popularity = rng.normal(0.0, 1.0, n_documents)
    low, high = config.candidates_per_query
    candidates, alphas, relevances = [], [], []
    for _ in range(n_queries):
        docs = rng.choice(n_documents, rng.integers(low, high + 1), replace=False)
        alpha = np.clip(rng.beta(1.2, 3.0, len(docs)), 0.01, 0.95)
        candidates.append(docs)
        alphas.append(alpha)
        relevances.append(np.log(alpha / (1 - alpha)) + rng.normal(0.0, 0.7, len(docs)))

    # The searches: query (Zipf-like), device, retriever; those with a page of impressions go on.
    query_weight = 1.0 / np.arange(1, n_queries + 1) ** 1.1
    query = rng.choice(n_queries, searches, p=query_weight / query_weight.sum())
    device_share = np.array([config.device_shares[d] for d in devices])
    device = rng.choice(len(devices), searches, p=device_share / device_share.sum())
    retriever_share = np.array([s.share for s in specs])
    retriever = rng.choice(len(specs), searches, p=retriever_share / retriever_share.sum())
    searches_by_device = {d: int(np.sum(device == i)) for i, d in enumerate(devices)}
    zero_odds = config.zero_results_share * np.where(query > n_queries // 3, 2.0, 0.5)  # the generator's
    tracked = np.array([s.tracks_impressions for s in specs])
    keep = (rng.random(searches) >= zero_odds) & tracked[retriever]
    query, device, retriever = query[keep], device[keep], retriever[keep]

    # Rank each search's candidates; count impressions per cell, a cell being one integer:
    # ((device * n_queries + query) * most + candidate index) * longest + position.
    page_size = np.array([PAGE_SIZE[d] for d in devices])
    longest, most = int(page_size.max()), max(len(c) for c in candidates)
    weight, prior, noise = (
        np.array([getattr(s, name) for s in specs])
        for name in ("relevance_weight", "popularity_weight", "ranking_noise")
    )
    by_query = np.argsort(query, kind="stable")
    bounds = np.searchsorted(query[by_query], np.arange(n_queries + 1))
    slots = []
    for q in range(n_queries):
        at = by_query[bounds[q] : bounds[q + 1]]
        if len(at) == 0:
            continue
        r = retriever[at, None]
        scores = weight[r] * relevances[q] + prior[r] * popularity[candidates[q]]
        scores = scores + noise[r] * rng.standard_normal(scores.shape, dtype=np.float32)
        # The page, best first (continuous scores: no ties to break).
        top = min(longest, len(candidates[q]))
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        ranked = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
        order = np.take_along_axis(best, ranked, axis=1)
        rows, positions = np.nonzero(np.arange(top) < page_size[device[at]][:, None])
        cell = (device[at][rows] * n_queries + q) * most + order[rows, positions]
        slots.append(cell * longest + positions)
    impressions = np.bincount(np.concatenate(slots))
    keys = np.flatnonzero(impressions)
    impressions = impressions[keys]
    position, candidate = keys % longest, keys // longest % most
    cell_query, cell_device = keys // (longest * most) % n_queries, keys // (longest * most * n_queries)

    # Clicks: Binomial(impressions, theta_device[position] * alpha).
    alpha = np.zeros((n_queries, most))
    for q, values in enumerate(alphas):
        alpha[q, : len(values)] = values
    theta = np.zeros((len(devices), longest))
    for i, name in enumerate(devices):
        theta[i, : PAGE_SIZE[name]] = examination_curve(name, PAGE_SIZE[name])
    clicks = rng.binomial(impressions, theta[cell_device, position] * alpha[cell_query, candidate])

    cells_by_device: dict[str, Cells] = {}
    for i, name in enumerate(devices):
        mine = cell_device == i
        _, pair = np.unique(cell_query[mine] * most + candidate[mine], return_inverse=True)
        cells_by_device[name] = Cells.of(pair, position[mine], impressions[mine], clicks[mine])
    # Positions per (query, document) over every device, as the generator's position_variation counts them.
    positions_per_pair = np.bincount(np.unique(keys % (n_queries * most * longest)) // longest)
    positions_per_pair = positions_per_pair[positions_per_pair > 0]
    truth = known_truth() | {
        "counts": {"executions": searches, "executions_by_device": searches_by_device},
        "position_variation": {
            "pairs_shown": len(positions_per_pair),
            "pairs_shown_at_two_or_more_positions": int(np.sum(positions_per_pair >= 2)),
        },
    }
    return SimulatedCells(truth, cells_by_device)
