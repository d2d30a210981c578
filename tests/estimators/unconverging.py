"""Traffic of two retrievers on two devices where one segment's EM cannot converge within a small cap (issue 31).

`ret_steady` shows each of its ten (query, document) pairs 30 times at every position on each device: the curve
is pinned down in a few EM iterations. `ret_shaky` shows each of its ten pairs at one home position 200 times per
device and once at each other position, with clicks rare (attractiveness 0.01-0.05): the little position variation
there is (coverage is 100%, so the segment is identifiable in principle) carries almost no information about the
curve, and EM creeps (775 iterations, against at most 40 for the steady retriever, both devices and
all traffic, where the steady pairs pin the curve). With the cap at EM_MAX_ITERATIONS, exactly one segment,
retriever:ret_shaky, stops without converging. Clicks are drawn once from a seeded generator; the tests assert
the iteration counts they rely on, so a change of numpy's stream shows as such.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from interactions_etl.estimators.position_bias import ShownSlots

STEADY, SHAKY = "ret_steady", "ret_shaky"
DEVICES = ("desktop", "mobile")
EM_MAX_ITERATIONS = 150
THETA = np.array([0.9, 0.6, 0.4, 0.3, 0.25])
PAGE = len(THETA)


@dataclass(frozen=True)
class Search:
    execution_id: str
    retriever: str
    device: str
    query: str
    documents: tuple[str, ...]  # by position
    clicked: frozenset[int]  # positions


def searches(seed: int = 8) -> list[Search]:
    rng = np.random.default_rng(seed)
    steady_alpha = [0.2, 0.35, 0.5, 0.3, 0.45]
    # (retriever, query index, shift of the home order, searches per device): documents d0..d4 of a query sit at
    # positions (i + shift) % 5. Every order below is shown on each device the given number of times.
    plan: list[tuple[str, int, int, int]] = []
    for query in range(2):
        plan += [(STEADY, query, shift, 30) for shift in range(PAGE)]
        plan += [(SHAKY, query, 0, 200)] + [(SHAKY, query, shift, 1) for shift in range(1, PAGE)]
    # Attractiveness per (retriever, query, document); clicks per (retriever, query, document, position, device).
    alpha = {(STEADY, q, d): steady_alpha[(q * PAGE + d) % PAGE] for q in range(2) for d in range(PAGE)} | {
        (SHAKY, q, d): float(rng.uniform(0.01, 0.05)) for q in range(2) for d in range(PAGE)
    }
    result: list[Search] = []
    for retriever, query, shift, times in plan:
        for device in DEVICES:
            # Clicks of the cells of this order: binomial in its shows, the first ones clicked.
            clicks = {
                d: int(rng.binomial(times, THETA[(d + shift) % PAGE] * alpha[(retriever, query, d)]))
                for d in range(PAGE)
            }
            for n in range(times):
                documents = [""] * PAGE
                for d in range(PAGE):
                    documents[(d + shift) % PAGE] = f"{retriever}_q{query}_doc{d}"
                clicked = frozenset((d + shift) % PAGE for d in range(PAGE) if n < clicks[d])
                execution_id = f"exec_{retriever}_{query}_{shift}_{device}_{n}"
                result.append(
                    Search(
                        execution_id,
                        retriever,
                        device,
                        f"{retriever} query {query}",
                        tuple(documents),
                        clicked,
                    )
                )
    return result


def shown_slots(found: list[Search], segment: tuple[str, str]) -> ShownSlots:
    """The slots of one segment, ("all", "all"), ("retriever", id) or ("device", name), as the marts read them."""
    segment_type, value = segment
    pair, position, execution, clicked = [], [], [], []
    for search in found:
        if segment_type == "retriever" and search.retriever != value:
            continue
        if segment_type == "device" and search.device != value:
            continue
        for k, document in enumerate(search.documents):
            pair.append(_key(f"{search.query}\x00{document}"))
            position.append(k)
            execution.append(_key(search.execution_id))
            clicked.append(k in search.clicked)
    return ShownSlots(
        np.array(pair, dtype=np.uint64),
        np.array(position, dtype=np.int64),
        np.array(execution, dtype=np.uint64),
        np.array(clicked, dtype=bool),
    )


def _key(text: str) -> int:
    """A stable 64-bit key (Python's hash() changes from one process to the next)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


SEGMENTS = [("all", "all"), ("retriever", STEADY), ("retriever", SHAKY)] + [("device", d) for d in DEVICES]


def records(found: list[Search], day: date) -> list[dict[str, Any]]:
    """The emulator's stored records of these searches on `day`: an impression per shown slot, a click per
    clicked one, spread over the day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    step = timedelta(days=1) / (len(found) + 1)
    out: list[dict[str, Any]] = []
    for i, search in enumerate(found):
        at = start + step * i
        for k, document in enumerate(search.documents):
            kinds = [["impression"]] + ([["click"]] if k in search.clicked else [])
            for kind in kinds:
                out.append(
                    _record(len(out), at + timedelta(microseconds=len(out) % 1000), search, k, document, kind)
                )
    return out


def _record(
    index: int, at: datetime, search: Search, position: int, document: str, kind: list[str]
) -> dict[str, Any]:
    from mixpeek_emulator.records import format_instant, to_micros

    return {
        "feature_id": document,
        "interaction_type": kind,
        "position": position,
        "metadata": {"device": search.device, "reward_value": 0.0},
        "user_id": f"user_{index % 37}",
        "session_id": f"sess_{search.execution_id}",
        "execution_id": search.execution_id,
        "retriever_id": search.retriever,
        "query_snapshot": {"text": search.query},
        "document_score": 0.5,
        "result_set_size": PAGE,
        "feature_uri": "mixpeek://text_extractor@v1/e5",
        "occurred_at": None,
        "interaction_id": f"int_{index:024d}",
        "deduplicated": False,
        "timestamp": format_instant(to_micros(at)),
        "warning": None,
    }
