"""How often the position-bias EM stops at its iteration cap without converging (issue 31), per segment and
minimum of impressions per pair, under the stopping rule before issue 31 and the one the marts use now.

A segment whose fit does not converge publishes no curve, so a rule that waits for parameters nobody reads
withholds numbers for nothing. For each seed this generates the emulator's traffic (the generator itself,
pipelines/emulator/generator.py), splits the shown slots into the marts' segments (all, each retriever, each
device), keeps the pairs with at least `min_pair_impressions` impressions (as the marts), and fits the EM with
both rules: "parameters" (stop when no theta and no alpha moves by more than 1e-6) and "curve" (stop when
theta_k / theta_0 moves by less than 1e-6 and the log-likelihood by less than 1e-11 of itself). Both fits
start from the same point with the same SQUAREM cycles; only the stopping rule differs. Prints markdown tables
for docs/benchmarks.md: non-converged fits and iterations per segment type and minimum, and how far the curves
of the two rules are apart where both converged.

    python3 dev.py run python benchmarks/em_convergence.py --seeds 20
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from interactions_etl.estimators.position_bias import Cells, StoppingRule, fit_pbm
from mixpeek_emulator.generator import TrafficConfig, generate_traffic

RULES: tuple[StoppingRule, ...] = ("parameters", "curve")


@dataclass(frozen=True)
class Slots:
    """Shown slots of one seed's traffic: pair id, position, clicked, and the segment columns."""

    pair: np.ndarray
    position: np.ndarray
    clicked: np.ndarray
    retriever: np.ndarray
    device: np.ndarray


def shown_slots(config: TrafficConfig) -> Slots:
    """Every shown slot (an impression record), clicked when a click record has the same execution and position;
    retrievers that send no impressions leave none, as in the marts."""
    slots: dict[tuple[str, int], list] = {}
    for r in generate_traffic(config).records():
        types = r["interaction_type"]
        if types == ["impression"] or "click" in types:
            entry = slots.setdefault((r["execution_id"], r["position"]), [None, False, False, None, None])
            entry[0] = (r["query_snapshot"]["text"], r["feature_id"])
            entry[1] |= types == ["impression"]
            entry[2] |= "click" in types
            entry[3], entry[4] = r["retriever_id"], r["metadata"]["device"]
    pair_ids: dict[tuple[str, str], int] = {}
    rows = [
        (pair_ids.setdefault(v[0], len(pair_ids)), k[1], v[2], v[3], v[4]) for k, v in slots.items() if v[1]
    ]
    pair, position, clicked, retriever, device = zip(*rows, strict=True)
    return Slots(
        np.array(pair, dtype=np.int64),
        np.array(position, dtype=np.int64),
        np.array(clicked, dtype=bool),
        np.array(retriever),
        np.array(device),
    )


def segments(slots: Slots) -> list[tuple[str, str, np.ndarray]]:
    everything = [("all", "all", np.ones(len(slots.pair), dtype=bool))]
    retrievers = [("retriever", r, slots.retriever == r) for r in sorted(set(slots.retriever))]
    devices = [("device", d, slots.device == d) for d in sorted(set(slots.device))]
    return everything + retrievers + devices


def cells_of(slots: Slots, mask: np.ndarray, min_pair_impressions: int) -> Cells:
    pair, position, clicked = slots.pair[mask], slots.position[mask], slots.clicked[mask]
    _, pair = np.unique(pair, return_inverse=True)
    width = int(position.max()) + 1
    keys, cell = np.unique(pair * width + position, return_inverse=True)
    cells = Cells.of(keys // width, keys % width, np.bincount(cell), np.bincount(cell, weights=clicked))
    return cells.restricted_to_pairs_with(min_pair_impressions)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds 1..N, one traffic each")
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--min-pair-impressions", type=int, nargs="+", default=[100, 20, 5, 1])
    parser.add_argument("--max-iterations", type=int, default=5000)
    parser.add_argument("--rules", nargs="+", choices=RULES, default=list(RULES))
    args = parser.parse_args()

    # (rule, segment type, minimum) -> fits, non-converged fits, iterations per fit, seconds; the curve gaps.
    fits: dict[tuple[str, str, int], list[tuple[bool, int, float]]] = defaultdict(list)
    failed: dict[tuple[str, int], list[str]] = defaultdict(list)
    gaps: dict[int, list[float]] = defaultdict(list)
    started = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        config = TrafficConfig(seed=seed, start=date(2026, 9, 1), days=args.days, per_day=args.per_day)
        slots = shown_slots(config)
        for segment_type, segment, mask in segments(slots):
            for minimum in args.min_pair_impressions:
                cells = cells_of(slots, mask, minimum)
                if cells.n_pairs == 0:
                    continue
                curves = {}
                for rule in args.rules:
                    began = time.perf_counter()
                    fit = fit_pbm(cells, max_iterations=args.max_iterations, stop_on=rule)
                    fits[(rule, segment_type, minimum)].append(
                        (fit.converged, fit.iterations, time.perf_counter() - began)
                    )
                    if fit.converged:
                        curves[rule] = fit.relative_theta
                    else:
                        failed[(rule, minimum)].append(f"seed {seed} {segment_type}:{segment}")
                if len(curves) == 2:
                    gaps[minimum].append(float(np.max(np.abs(curves["curve"] - curves["parameters"]))))
        print(f"seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)

    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}; {datetime.now(UTC):%Y-%m-%d}. {args.seeds} seeds of the generator's traffic "
        f"({args.days} days of {args.per_day:,} records), cap {args.max_iterations:,} EM iterations; "
        f"{time.perf_counter() - started:.0f} s in all.\n"
    )
    print("| stopping rule | segment | min impressions per pair | fits | not converged | "
          "median iterations | max iterations | median seconds |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for rule in args.rules:
        for segment_type in ("all", "retriever", "device"):
            for minimum in args.min_pair_impressions:
                rows = fits.get((rule, segment_type, minimum), [])
                if not rows:
                    continue
                iterations = [n for _, n, _ in rows]
                print(
                    f"| {rule} | {segment_type} | {minimum} | {len(rows)} | "
                    f"{sum(not ok for ok, _, _ in rows)} | {int(np.median(iterations)):,} | {max(iterations):,} | "
                    f"{np.median([s for _, _, s in rows]):.2f} |"
                )
    if gaps:
        print("\n| min impressions per pair | fits both rules converged | largest curve difference |")
        print("|---:|---:|---:|")
        for minimum, values in sorted(gaps.items(), reverse=True):
            print(f"| {minimum} | {len(values)} | {max(values):.1e} |")
    for (rule, minimum), names in sorted(failed.items()):
        print(f"\nnot converged, {rule}, min {minimum}: {', '.join(names)}")


if __name__ == "__main__":
    main()
