"""Seeded synthetic product-search traffic whose ground truth is known.

Users in sessions search, see a page of 10-20 results, and act. Clicks follow the position-based model
(metrics.md): P(click | q, d, k) = theta_device[k] * alpha_qd, with a known examination curve per device and a
known attractiveness per (query, document). Several retrievers (A/B arms and versions) rank the same candidates
differently and with per-execution noise, so a document is shown at different positions: that is what makes the
position curve identifiable. A deterministic ranker (one retriever, no noise) shows each (query, document) at one
position only, and an estimator must then refuse to publish a curve.

The same config gives the same records, byte for byte. Records stream day by day, sorted by `timestamp`.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mixpeek_emulator.records import format_instant, to_micros

SECOND = 1_000_000
DAY_US = 86_400 * SECOND

# True examination probabilities theta_k (positions 0-based). Desktop follows the ULTRA simulation default for
# the first ten ranks (metrics.md), then keeps decaying; mobile is steeper (a small screen), tablet in between.
EXAMINATION: dict[str, tuple[float, ...]] = {
    "desktop": (0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06,
                0.055, 0.05, 0.045, 0.04, 0.036, 0.033, 0.03, 0.027, 0.025, 0.023),
    "mobile": (0.72, 0.50, 0.34, 0.24, 0.17, 0.12, 0.09, 0.07, 0.05, 0.04),
    "tablet": (0.70, 0.57, 0.43, 0.31, 0.24, 0.17, 0.12, 0.09, 0.07, 0.055, 0.045, 0.04),
}  # fmt: skip
PAGE_SIZE = {device: len(curve) for device, curve in EXAMINATION.items()}
FEATURE_URI = "mixpeek://text_extractor@v1/multilingual_e5_large_instruct_v1"

PRODUCTS = (
    "headphones", "earbuds", "running shoes", "sneakers", "backpack", "laptop", "laptop stand", "monitor",
    "keyboard", "mouse", "phone case", "charger", "usb c cable", "smart watch", "fitness tracker", "water bottle",
    "coffee maker", "espresso machine", "blender", "air fryer", "desk lamp", "office chair", "yoga mat",
    "rain jacket", "winter coat", "wool socks", "sunglasses", "camera", "tripod", "microphone",
)  # fmt: skip
MODIFIERS = (
    "wireless", "cheap", "best", "black", "waterproof", "lightweight", "kids", "mens", "womens", "portable",
    "ergonomic", "bluetooth", "leather", "organic", "gaming", "4k", "noise cancelling", "travel", "large", "mini",
)  # fmt: skip
CURRENCIES = (("USD", 0.7), ("EUR", 0.2), ("GBP", 0.1))
# Hour-of-day weights (UTC): quiet at night, a lunchtime bump, an evening peak.
HOURLY_WEIGHTS = (
    0.25, 0.18, 0.12, 0.10, 0.10, 0.14, 0.25, 0.45, 0.65, 0.75, 0.8, 0.85,
    0.95, 0.9, 0.8, 0.8, 0.85, 0.95, 1.1, 1.3, 1.45, 1.4, 1.0, 0.55,
)  # fmt: skip


def examination_curve(device: str, length: int) -> list[float]:
    """The true theta_k for `device`, positions 0..length-1 (decaying past the page size)."""
    curve = list(EXAMINATION[device])
    while len(curve) < length:
        curve.append(round(curve[-1] * 0.9, 6))
    return curve[:length]


@dataclass(frozen=True)
class RetrieverSpec:
    retriever_id: str
    share: float  # share of executions routed to it
    relevance_weight: float  # how strongly its ranker follows true relevance
    ranking_noise: float  # per-execution score noise (0 = deterministic ranker)
    tracks_impressions: bool = True  # False: a legacy client that sends no impression events
    popularity_weight: float = 0.0  # weight of a query-independent popularity prior (differs between arms)


DEFAULT_RETRIEVERS: tuple[RetrieverSpec, ...] = (
    RetrieverSpec("ret_product_search_v1", 0.40, relevance_weight=1.0, ranking_noise=0.9),
    RetrieverSpec(
        "ret_product_search_v2", 0.40, relevance_weight=1.3, ranking_noise=0.9, popularity_weight=0.6
    ),
    RetrieverSpec("ret_semantic_search", 0.15, relevance_weight=0.8, ranking_noise=1.2),
    RetrieverSpec(
        "ret_legacy_widget", 0.05, relevance_weight=1.0, ranking_noise=0.9, tracks_impressions=False
    ),
)
DETERMINISTIC_RETRIEVERS: tuple[RetrieverSpec, ...] = (
    RetrieverSpec("ret_product_search_v1", 1.0, relevance_weight=1.0, ranking_noise=0.0),
)


@dataclass(frozen=True)
class TrafficConfig:
    seed: int = 7
    start: date = date(2026, 10, 1)  # first UTC day
    days: int = 7
    per_day: int = 50_000  # interaction records per UTC day (by timestamp), approximately
    n_documents: int = 3000
    n_queries: int = 600
    candidates_per_query: tuple[int, int] = (25, 60)
    retrievers: tuple[RetrieverSpec, ...] = DEFAULT_RETRIEVERS
    device_shares: dict[str, float] = field(
        default_factory=lambda: {"mobile": 0.55, "desktop": 0.35, "tablet": 0.10}
    )
    late_share: float = 0.01  # executions whose records arrive 1-3 days late (occurred_at = true time)
    zero_results_share: float = 0.03
    anonymous_share: float = 0.15
    refinement_probability: float = 0.35  # after a search without a click
    skip_probability: float = 0.12  # an explicit skip on an unclicked slot above a click
    add_to_cart_probability: float = 0.25  # after a satisfying click
    purchase_probability: float = 0.4  # after add_to_cart
    merged_long_view_share: float = 0.3  # satisfied clicks reported as one ["click", "long_view"] record

    @staticmethod
    def deterministic(**overrides: Any) -> TrafficConfig:
        """One retriever with no ranking noise: every (query, document) at a single position."""
        return TrafficConfig(retrievers=DETERMINISTIC_RETRIEVERS, **overrides)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class _World:
    """Documents, queries, candidates, attractiveness and the rankers' view of relevance."""

    def __init__(self, config: TrafficConfig, rng: random.Random) -> None:
        self.documents = [f"prod_{i:05d}" for i in range(config.n_documents)]
        self.popularity = [rng.gauss(0, 1) for _ in self.documents]
        phrases = [f"{m} {p}" for m in MODIFIERS for p in PRODUCTS] + list(PRODUCTS)
        rng.shuffle(phrases)
        self.queries = phrases[: config.n_queries]
        # Zipf-like popularity: a few head queries, a long tail.
        weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(self.queries))]
        total = sum(weights)
        self.query_cdf = list(_cumulative([w / total for w in weights]))
        self.candidates: list[list[int]] = []
        self.alpha: list[list[float]] = []
        self.relevance: list[list[float]] = []
        low, high = config.candidates_per_query
        for _ in self.queries:
            size = rng.randint(low, high)
            docs = rng.sample(range(config.n_documents), size)
            alphas = [min(0.95, max(0.01, rng.betavariate(1.2, 3.0))) for _ in docs]
            self.candidates.append(docs)
            self.alpha.append(alphas)
            # What rankers know: the truth through a fixed noisy lens.
            self.relevance.append([_logit(a) + rng.gauss(0, 0.7) for a in alphas])
        # Related queries share a product: refinement picks one of them.
        by_product: dict[str, list[int]] = defaultdict(list)
        for qi, text in enumerate(self.queries):
            by_product[next((p for p in PRODUCTS if text.endswith(p)), text)].append(qi)
        self.related = [by_product[next((p for p in PRODUCTS if t.endswith(p)), t)] for t in self.queries]

    def pick_query(self, rng: random.Random) -> int:
        return _search(self.query_cdf, rng.random())


def _cumulative(weights: list[float]) -> Iterator[float]:
    running = 0.0
    for w in weights:
        running += w
        yield running


def _search(cdf: list[float], u: float) -> int:
    lo, hi = 0, len(cdf) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] < u:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _choice(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    u = rng.random() * sum(w for _, w in weighted)
    for value, weight in weighted:
        u -= weight
        if u <= 0:
            return value
    return weighted[-1][0]


@dataclass
class _Counts:
    executions: int = 0
    records: int = 0
    impressions: int = 0
    clicks: int = 0
    zero_result_executions: int = 0
    refinements: int = 0
    add_to_cart: int = 0
    purchases: int = 0
    returns_to_results: int = 0
    skips: int = 0
    late_records: int = 0
    executions_by_retriever: Counter[str] = field(default_factory=Counter)
    executions_by_device: Counter[str] = field(default_factory=Counter)
    records_by_day: Counter[str] = field(default_factory=Counter)
    records_by_event_day: Counter[str] = field(default_factory=Counter)
    impressions_by_device_position: dict[str, Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    clicks_by_device_position: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    positions_by_pair: dict[tuple[int, int], set[int]] = field(default_factory=lambda: defaultdict(set))


class Traffic:
    def __init__(self, config: TrafficConfig) -> None:
        if not config.retrievers:
            raise ValueError("at least one retriever is needed")
        self.config = config
        self._counts: _Counts | None = None
        self._world: _World | None = None

    # -- public -------------------------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, sorted by (timestamp, generation order), day by day."""
        config = self.config
        rng = random.Random(config.seed)
        world = self._world = _World(config, rng)
        counts = self._counts = _Counts()
        users = _Users(config, rng)
        retriever_weights = [(spec, spec.share) for spec in config.retrievers]
        horizon_us = (
            to_micros(datetime.combine(config.start, datetime.min.time(), tzinfo=UTC)) + config.days * DAY_US
        )
        pending: list[tuple[int, int, dict[str, Any]]] = []  # heap of (ts_us, order, record)
        order = 0
        for day_index in range(config.days):
            day = config.start + timedelta(days=day_index)
            day_start = to_micros(datetime.combine(day, datetime.min.time(), tzinfo=UTC))
            generated = 0
            while generated < config.per_day:
                session = _Session(config, rng, world, users.pick(rng), retriever_weights, counts, horizon_us)
                for ts_us, record in session.run(_session_start(rng, day_start)):
                    heapq.heappush(pending, (ts_us, order, record))
                    order += 1
                    generated += 1
            day_end = day_start + DAY_US
            while pending and pending[0][0] < day_end:
                yield self._emit(heapq.heappop(pending), counts)
        while pending:
            yield self._emit(heapq.heappop(pending), counts)

    def ground_truth(self) -> dict[str, Any]:
        """The truth behind the records; complete once records() has been consumed."""
        if self._counts is None or self._world is None:
            for _ in self.records():
                pass
        counts, world = self._counts, self._world
        assert counts is not None and world is not None
        shown_pairs = counts.positions_by_pair
        multi = sum(1 for positions in shown_pairs.values() if len(positions) >= 2)
        longest = max(PAGE_SIZE.values())
        return {
            "config": self.config.to_dict(),
            "model": "position-based: P(click | q, d, k) = examination[device][k] * alpha(q, d)",
            "examination": {d: examination_curve(d, PAGE_SIZE[d]) for d in EXAMINATION},
            "examination_relative": {
                d: [round(t / examination_curve(d, 1)[0], 6) for t in examination_curve(d, PAGE_SIZE[d])]
                for d in EXAMINATION
            },
            "page_size": dict(PAGE_SIZE),
            "attractiveness": [
                {"query": world.queries[qi], "feature_id": world.documents[d], "alpha": round(a, 6)}
                for qi, (docs, alphas) in enumerate(zip(world.candidates, world.alpha, strict=True))
                for d, a in zip(docs, alphas, strict=True)
            ],
            "retrievers": [asdict(spec) for spec in self.config.retrievers],
            "counts": {
                "records": counts.records,
                "executions": counts.executions,
                "impressions": counts.impressions,
                "clicks": counts.clicks,
                "zero_result_executions": counts.zero_result_executions,
                "query_refinements": counts.refinements,
                "add_to_cart": counts.add_to_cart,
                "purchases": counts.purchases,
                "returns_to_results": counts.returns_to_results,
                "explicit_skips": counts.skips,
                "late_records": counts.late_records,
                "executions_by_retriever": dict(sorted(counts.executions_by_retriever.items())),
                "executions_by_device": dict(sorted(counts.executions_by_device.items())),
                "records_by_day": dict(sorted(counts.records_by_day.items())),
                "records_by_event_day": dict(sorted(counts.records_by_event_day.items())),
                "impressions_by_device_position": {
                    d: [c.get(k, 0) for k in range(longest)]
                    for d, c in sorted(counts.impressions_by_device_position.items())
                },
                "clicks_by_device_position": {
                    d: [c.get(k, 0) for k in range(longest)]
                    for d, c in sorted(counts.clicks_by_device_position.items())
                },
            },
            "position_variation": {
                "pairs_shown": len(shown_pairs),
                "pairs_shown_at_two_or_more_positions": multi,
                "share_of_pairs": round(multi / len(shown_pairs), 6) if shown_pairs else 0.0,
            },
        }

    # -- internals ------------------------------------------------------------------------------------------

    @staticmethod
    def _emit(entry: tuple[int, int, dict[str, Any]], counts: _Counts) -> dict[str, Any]:
        _, _, record = entry
        counts.records += 1
        counts.records_by_day[record["timestamp"][:10]] += 1
        counts.records_by_event_day[(record["occurred_at"] or record["timestamp"])[:10]] += 1
        return record


def _session_start(rng: random.Random, day_start: int) -> int:
    hour = _choice(rng, list(enumerate(HOURLY_WEIGHTS)))
    return day_start + hour * 3600 * SECOND + int(rng.random() * 3600 * SECOND)


class _Users:
    def __init__(self, config: TrafficConfig, rng: random.Random) -> None:
        self.size = max(50, config.per_day // 6)
        self.config = config
        self.devices = [_choice(rng, list(config.device_shares.items())) for _ in range(self.size)]
        self.currencies = [_choice(rng, list(CURRENCIES)) for _ in range(self.size)]
        self.anonymous = [rng.random() < config.anonymous_share for _ in range(self.size)]

    def pick(self, rng: random.Random) -> tuple[str | None, str, str]:
        # Some users come back often: a skewed pick gives repeat users across days.
        index = min(self.size - 1, int(self.size * rng.random() ** 1.5))
        user_id = None if self.anonymous[index] else f"user_{index:06d}"
        return user_id, self.devices[index], self.currencies[index]


class _Session:
    """One user's searches, in time order, yielding (timestamp_us, record)."""

    def __init__(
        self,
        config: TrafficConfig,
        rng: random.Random,
        world: _World,
        user: tuple[str | None, str, str],
        retriever_weights: list[tuple[RetrieverSpec, float]],
        counts: _Counts,
        horizon_us: int,
    ) -> None:
        self.config, self.rng, self.world, self.counts, self.horizon_us = (
            config,
            rng,
            world,
            counts,
            horizon_us,
        )
        self.user_id, self.device, self.currency = user
        self.session_id = f"sess_{rng.getrandbits(64):016x}"
        self.retriever: RetrieverSpec = _choice(
            rng, retriever_weights
        )  # A/B assignment is sticky per session

    def run(self, start_us: int) -> Iterator[tuple[int, dict[str, Any]]]:
        rng = self.rng
        now = start_us
        query = self.world.pick_query(rng)
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            clicked, ended, records = self._execution(query, now)
            yield from records
            now = ended + int(rng.uniform(5, 120) * SECOND)
            if not clicked and rng.random() < self.config.refinement_probability:
                query = rng.choice(self.world.related[query])
            else:
                query = self.world.pick_query(rng)

    def _execution(self, query: int, t0: int) -> tuple[bool, int, list[tuple[int, dict[str, Any]]]]:
        config, rng, world, counts = self.config, self.rng, self.world, self.counts
        spec = self.retriever
        execution_id = f"exec_{rng.getrandbits(64):016x}"
        counts.executions += 1
        counts.executions_by_retriever[spec.retriever_id] += 1
        counts.executions_by_device[self.device] += 1
        late_by = 0
        if rng.random() < config.late_share:
            late_by = int(rng.uniform(1, 3) * DAY_US)
        device, user_id, session_id, retriever_id = (
            self.device,
            self.user_id,
            self.session_id,
            spec.retriever_id,
        )
        query_snapshot = {"text": world.queries[query]}  # one object per execution, as before
        out: list[tuple[int, dict[str, Any]]] = []

        def emit(
            at: int,
            types: list[str],
            feature_id: str,
            position: int,
            score: float | None,
            size: int,
            **meta: Any,
        ) -> None:
            recorded, occurred = at, None
            if late_by and at + late_by < self.horizon_us:
                recorded, occurred = at + late_by, format_instant(at)
                counts.late_records += 1
            # Written in RECORD_FIELDS order (tests/emulator/test_generator.py checks it), not re-sorted.
            out.append((recorded, {
                "feature_id": feature_id,
                "interaction_type": types,
                "position": position,
                "metadata": {"device": device, "page": "search_results", **meta},
                "user_id": user_id,
                "session_id": session_id,
                "execution_id": execution_id,
                "retriever_id": retriever_id,
                "query_snapshot": query_snapshot,
                "document_score": score,
                "result_set_size": size,
                "feature_uri": FEATURE_URI,
                "occurred_at": occurred,
                "interaction_id": f"int_{rng.getrandbits(96):024x}",
                "deduplicated": False,
                "timestamp": format_instant(recorded),
                "warning": None,
            }))  # fmt: skip

        # Tail queries find nothing more often than head queries.
        zero_odds = config.zero_results_share * (2.0 if query > len(world.queries) // 3 else 0.5)
        if rng.random() < zero_odds:
            counts.zero_result_executions += 1
            emit(t0, ["zero_results"], "none", 0, None, 0)
            return False, t0, out

        page = self._rank(query)
        size = len(page)
        theta = EXAMINATION[self.device]
        if spec.tracks_impressions:
            for position, (doc, _, score) in enumerate(page):
                emit(t0 + position * 40_000, ["impression"], world.documents[doc], position, score, size)
                counts.impressions += 1
                counts.impressions_by_device_position[self.device][position] += 1
                counts.positions_by_pair[(query, doc)].add(position)
        clicks = [pos for pos, (_, alpha, _) in enumerate(page) if rng.random() < theta[pos] * alpha]
        now = t0 + int(rng.uniform(2, 8) * SECOND)
        last_click = max(clicks) if clicks else -1
        for position in range(last_click):
            if position not in clicks and rng.random() < config.skip_probability:
                doc, _, score = page[position]
                emit(now - 500_000 + position * 10_000, ["skip"], world.documents[doc], position, score, size)
                counts.skips += 1
        for position in clicks:
            doc, alpha, score = page[position]
            feature_id = world.documents[doc]
            counts.clicks += 1
            counts.clicks_by_device_position[self.device][position] += 1
            satisfied = rng.random() < 0.35 + 0.6 * alpha
            if satisfied:
                duration = int(rng.lognormvariate(math.log(70), 0.5) * 1000)
                duration = max(duration, 30_000)
                if rng.random() < config.merged_long_view_share:
                    emit(now, ["click", "long_view"], feature_id, position, score, size, duration_ms=duration)
                else:
                    emit(now, ["click"], feature_id, position, score, size)
                    emit(
                        now + duration * 1000,
                        ["long_view"],
                        feature_id,
                        position,
                        score,
                        size,
                        duration_ms=duration,
                    )
                now += duration * 1000
                if rng.random() < 0.05:
                    emit(now, ["positive_feedback"], feature_id, position, score, size)
                if rng.random() < config.add_to_cart_probability:
                    now += int(rng.uniform(5, 60) * SECOND)
                    emit(now, ["add_to_cart"], feature_id, position, score, size)
                    counts.add_to_cart += 1
                    if rng.random() < config.purchase_probability:
                        now += int(rng.uniform(30, 600) * SECOND)
                        value = round(rng.lognormvariate(math.log(45), 0.6), 2)
                        emit(now, ["purchase"], feature_id, position, score, size,
                             order_value=value, currency=self.currency)  # fmt: skip
                        counts.purchases += 1
            else:
                duration = (
                    int(rng.uniform(1.5, 9.5) * 1000)
                    if rng.random() < 0.75
                    else int(rng.uniform(10, 29) * 1000)
                )
                emit(now, ["click"], feature_id, position, score, size)
                emit(
                    now + duration * 1000, ["dwell"], feature_id, position, score, size, duration_ms=duration
                )
                now += duration * 1000
                if duration < 10_000:
                    emit(
                        now + 200_000,
                        ["return_to_results"],
                        feature_id,
                        position,
                        score,
                        size,
                        duration_ms=duration,
                    )
                    counts.returns_to_results += 1
                if rng.random() < 0.1:
                    emit(now + 400_000, ["negative_feedback"], feature_id, position, score, size)
            now += int(rng.uniform(1, 6) * SECOND)
        if not clicks and rng.random() < config.refinement_probability:
            # The user rewrites the query: the refinement is recorded against the search it refines.
            doc, _, score = page[0]
            counts.refinements += 1
            emit(now, ["query_refinement"], world.documents[doc], 0, score, size,
                 refined_to=world.queries[rng.choice(world.related[query])])  # fmt: skip
        return bool(clicks), now, out

    def _rank(self, query: int) -> list[tuple[int, float, float]]:
        """(document, alpha, display score) for the page, best first."""
        spec, rng, world = self.retriever, self.rng, self.world
        docs, alphas, relevance = world.candidates[query], world.alpha[query], world.relevance[query]
        scored = []
        for doc, alpha, rel in zip(docs, alphas, relevance, strict=True):
            score = spec.relevance_weight * rel + spec.popularity_weight * world.popularity[doc]
            if spec.ranking_noise:
                score += rng.gauss(0, spec.ranking_noise)
            # Negated, so a plain sort is best first, ties by document (a query's documents are distinct, so
            # alpha is never compared).
            scored.append((-score, doc, alpha))
        scored.sort()
        page = scored[: PAGE_SIZE[self.device]]
        return [(doc, alpha, round(1 / (1 + math.exp(negated / 3)), 4)) for negated, doc, alpha in page]


def generate_traffic(config: TrafficConfig) -> Traffic:
    return Traffic(config)


def write_ground_truth(truth: dict[str, Any], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=1, sort_keys=False))
