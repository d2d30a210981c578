"""EM on aggregated counts against EM over individual slots (issue 7): the same result, and the speed ratio.

The position-based model's EM needs only impressions and clicks per (query, document, position): the counts are
its sufficient statistics. This benchmark fits one device's curve from generated traffic three ways:
1. the reference: the textbook EM of metrics.md over every shown slot (numpy, one value per slot);
2. the same plain EM over the counts (one value per cell);
3. what the marts run: EM over the counts, SQUAREM-accelerated (pipelines/estimators/position_bias.py).
1 and 2 run the same iterations and must agree to 1e-6 (they do to about 1e-12); 3 must land on the same fixed
point. Prints a markdown table for docs/benchmarks.md.

    python3 dev.py run python benchmarks/em_counts_vs_slots.py --per-day 800000 --days 4
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, date, datetime

import numpy as np

from interactions_etl.estimators.position_bias import Cells, _EMStep, fit_pbm
from mixpeek_emulator.generator import TrafficConfig, generate_traffic

TOLERANCE = 1e-6


def shown_slots(
    config: TrafficConfig, device: str, min_pair_impressions: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pair id, position, clicked) per shown slot of `device`, pairs with enough impressions (as the marts)."""
    traffic = generate_traffic(config)
    untracked = {s.retriever_id for s in config.retrievers if not s.tracks_impressions}
    slots: dict[tuple[str, int], list] = {}
    for r in traffic.records():
        if r["retriever_id"] in untracked or r["metadata"]["device"] != device:
            continue
        types = r["interaction_type"]
        if types == ["impression"] or "click" in types:
            entry = slots.setdefault((r["execution_id"], r["position"]), [None, False, False])
            entry[0] = (r["query_snapshot"]["text"], r["feature_id"])
            entry[1] |= types == ["impression"]
            entry[2] |= "click" in types
    pair_ids: dict[tuple, int] = {}
    rows = [(pair_ids.setdefault(v[0], len(pair_ids)), k[1], v[2]) for k, v in slots.items() if v[1]]
    pair, position, clicked = (np.array(column) for column in zip(*rows, strict=True))
    per_pair = np.bincount(pair)
    keep = per_pair[pair] >= min_pair_impressions
    _, pair = np.unique(pair[keep], return_inverse=True)
    return pair.astype(np.int64), position[keep].astype(np.int64), clicked[keep].astype(bool)


def em_over_slots(pair: np.ndarray, position: np.ndarray, clicked: np.ndarray, max_iterations: int):  # type: ignore[no-untyped-def]
    """The reference: metrics.md's E and M steps, evaluated slot by slot."""
    theta = np.full(position.max() + 1, 0.5)
    alpha = np.full(pair.max() + 1, 0.5)
    shown_at, shown_for = np.bincount(position), np.bincount(pair)
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - the count is returned
        t, a = theta[position], alpha[pair]
        examined = np.where(clicked, 1.0, t * (1 - a) / (1 - t * a))
        attracted = np.where(clicked, 1.0, (1 - t) * a / (1 - t * a))
        new_theta = np.bincount(position, weights=examined) / shown_at
        new_alpha = np.bincount(pair, weights=attracted) / shown_for
        change = max(np.abs(new_theta - theta).max(), np.abs(new_alpha - alpha).max())
        theta, alpha = new_theta, new_alpha
        if change < TOLERANCE:
            break
    return theta, alpha, iteration


def em_over_counts(cells: Cells, max_iterations: int):  # type: ignore[no-untyped-def]
    step = _EMStep(cells)
    theta, alpha = np.full(step.n_positions, 0.5), np.full(step.n_pairs, 0.5)
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - the count is returned
        new_theta, new_alpha = step(theta, alpha)
        change = max(np.abs(new_theta - theta).max(), np.abs(new_alpha - alpha).max())
        theta, alpha = new_theta, new_alpha
        if change < TOLERANCE:
            break
    return theta, alpha, iteration


def timed(function, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-day", type=int, default=800_000)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--device", default="desktop")
    parser.add_argument("--max-iterations", type=int, default=20_000)
    parser.add_argument("--min-pair-impressions", type=int, default=100)
    args = parser.parse_args()

    config = TrafficConfig(seed=5, start=date(2026, 9, 1), days=args.days, per_day=args.per_day)
    pair, position, clicked = shown_slots(config, args.device, args.min_pair_impressions)
    keys, cell = np.unique(pair * (position.max() + 1) + position, return_inverse=True)
    width = position.max() + 1
    cells = Cells(keys // width, keys % width, np.bincount(cell).astype(float),
                  np.bincount(cell, weights=clicked.astype(float)))  # fmt: skip

    (s_theta, s_alpha, s_iter), s_seconds = timed(em_over_slots, pair, position, clicked, args.max_iterations)
    (c_theta, c_alpha, c_iter), c_seconds = timed(em_over_counts, cells, args.max_iterations)
    fast, f_seconds = timed(fit_pbm, cells)
    same = max(np.abs(s_theta - c_theta).max(), np.abs(s_alpha - c_alpha).max())
    curve_gap = np.abs(fast.relative_theta - c_theta / c_theta[0]).max()

    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}; {datetime.now(UTC):%Y-%m-%d}. {args.device}: {len(pair):,} shown slots, "
          f"{len(cells.pair):,} cells, {cells.n_pairs:,} pairs, {width} positions.\n")  # fmt: skip
    print("| EM | iterations | seconds | per iteration (ms) | vs the slot-level reference |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| plain, over slots (reference) | {s_iter:,} | {s_seconds:.2f} | {1000 * s_seconds / s_iter:.2f} | - |"
    )
    print(f"| plain, over counts | {c_iter:,} | {c_seconds:.2f} | {1000 * c_seconds / c_iter:.2f} | "
          f"max parameter difference {same:.1e}; {s_seconds / c_seconds:.0f}x faster |")  # fmt: skip
    print(f"| SQUAREM, over counts (the marts) | {fast.iterations:,} | {f_seconds:.2f} | "
          f"{1000 * f_seconds / fast.iterations:.2f} | curve within {curve_gap:.1e} of plain EM's; "
          f"{s_seconds / f_seconds:.0f}x faster |")  # fmt: skip
    if same > 1e-6:
        raise SystemExit(f"counts and slots disagree by {same:.2e} > 1e-6")


if __name__ == "__main__":
    main()
