"""The synthetic traffic: deterministic, complete records, clicks that follow the known model."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from mixpeek_emulator.generator import (
    EXAMINATION,
    TrafficConfig,
    examination_curve,
    generate_traffic,
    write_ground_truth,
)
from mixpeek_emulator.records import RECORD_FIELDS, parse_instant
from mixpeek_emulator.schemas import InteractionType

SMALL = TrafficConfig(seed=11, start=date(2026, 10, 1), days=2, per_day=20_000)


@pytest.fixture(scope="module")
def small() -> tuple[list[dict], dict]:
    traffic = generate_traffic(SMALL)
    records = list(traffic.records())
    return records, traffic.ground_truth()


def test_same_seed_same_bytes_other_seed_differs(small) -> None:
    records, _ = small
    again = list(generate_traffic(SMALL).records())
    assert json.dumps(again) == json.dumps(records)
    other = list(
        generate_traffic(TrafficConfig(seed=12, start=SMALL.start, days=2, per_day=20_000)).records()
    )
    assert json.dumps(other[:100]) != json.dumps(records[:100])


def test_every_record_is_a_valid_api_record(small) -> None:
    records, _ = small
    known = {t.value for t in InteractionType}
    previous = ""
    for r in records:
        assert tuple(r) == RECORD_FIELDS
        assert r["interaction_type"] and set(r["interaction_type"]) <= known
        assert isinstance(r["position"], int) and r["position"] >= 0
        assert r["metadata"]["device"] in EXAMINATION and "reward_value" not in r["metadata"]
        assert r["interaction_id"].startswith("int_") and len(r["interaction_id"]) == 28
        assert r["execution_id"] and r["session_id"] and r["retriever_id"] and r["query_snapshot"]["text"]
        if r["result_set_size"] == 0:
            assert r["interaction_type"] == ["zero_results"]
        else:
            assert 10 <= r["result_set_size"] <= 20 and r["position"] < r["result_set_size"]
        assert r["timestamp"] >= previous  # sorted by timestamp
        previous = r["timestamp"]
        parse_instant(r["timestamp"])
    assert len({r["interaction_id"] for r in records}) == len(records)


def test_executions_are_consistent_and_impressions_cover_the_page(small) -> None:
    records, truth = small
    by_execution: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_execution[r["execution_id"]].append(r)
    tracking = {spec["retriever_id"]: spec["tracks_impressions"] for spec in truth["retrievers"]}
    untracked_seen = 0
    for rows in by_execution.values():
        first = rows[0]
        for key in ("session_id", "user_id", "retriever_id", "query_snapshot", "result_set_size"):
            assert all(r[key] == first[key] for r in rows), key
        if first["result_set_size"] == 0:
            continue
        impressions = sorted(r["position"] for r in rows if r["interaction_type"] == ["impression"])
        if tracking[first["retriever_id"]]:
            assert impressions == list(range(first["result_set_size"]))
        else:
            assert impressions == []
            untracked_seen += 1
    assert untracked_seen > 0


def test_event_kinds_and_metadata(small) -> None:
    records, _ = small
    kinds = Counter(t for r in records for t in r["interaction_type"])
    for kind in ("impression", "click", "long_view", "dwell", "return_to_results", "skip", "add_to_cart", "purchase",
                 "positive_feedback", "negative_feedback", "zero_results", "query_refinement"):  # fmt: skip
        assert kinds[kind] > 0, kind
    assert any(r["interaction_type"] == ["click", "long_view"] for r in records)
    for r in records:
        types = r["interaction_type"]
        if "long_view" in types:
            assert r["metadata"]["duration_ms"] >= 30_000
        if "dwell" in types:
            assert 0 < r["metadata"]["duration_ms"] < 30_000
        if "purchase" in types:
            assert r["metadata"]["order_value"] > 0 and r["metadata"]["currency"] in ("USD", "EUR", "GBP")
    assert sum(r["user_id"] is None for r in records) > 0


def test_late_records_carry_occurred_at_days_earlier(small) -> None:
    records, truth = small
    late = [r for r in records if r["occurred_at"] is not None]
    assert late and len(late) == truth["counts"]["late_records"]
    for r in late:
        delay_us = parse_instant(r["timestamp"]) - parse_instant(r["occurred_at"])
        assert 86_400 * 10**6 <= delay_us <= 3 * 86_400 * 10**6


def test_per_day_is_honoured_approximately(small) -> None:
    _, truth = small
    by_day = truth["counts"]["records_by_day"]
    for day in ("2026-10-01", "2026-10-02"):
        assert abs(by_day[day] - SMALL.per_day) / SMALL.per_day < 0.1, by_day


def test_clicks_follow_the_position_based_model(small) -> None:
    """CTR at (device, position) must match theta_k * mean alpha of the documents shown there, within 4 sigma."""
    records, truth = small
    alpha = {(a["query"], a["feature_id"]): a["alpha"] for a in truth["attractiveness"]}
    shown: dict[tuple[str, int], list[float]] = defaultdict(list)
    clicked: Counter[tuple[str, int]] = Counter()
    clicked_slots = {(r["execution_id"], r["position"]) for r in records if "click" in r["interaction_type"]}
    for r in records:
        if r["interaction_type"] == ["impression"]:
            key = (r["metadata"]["device"], r["position"])
            shown[key].append(alpha[(r["query_snapshot"]["text"], r["feature_id"])])
            clicked[key] += (r["execution_id"], r["position"]) in clicked_slots
    checked = 0
    for (device, position), alphas in shown.items():
        if len(alphas) < 300:
            continue
        theta = examination_curve(device, position + 1)[position]
        probabilities = [theta * a for a in alphas]
        expected = sum(probabilities)
        sigma = math.sqrt(sum(p * (1 - p) for p in probabilities))
        assert abs(clicked[(device, position)] - expected) <= 4 * sigma + 1, (device, position)
        checked += 1
    assert checked >= 20


def test_rankers_move_documents_between_positions_unless_deterministic(small) -> None:
    _, truth = small
    assert truth["position_variation"]["share_of_pairs"] > 0.3
    deterministic = generate_traffic(TrafficConfig.deterministic(seed=3, days=1, per_day=5000))
    positions: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in deterministic.records():
        if r["interaction_type"] == ["impression"]:
            positions[(r["query_snapshot"]["text"], r["feature_id"])].add(r["position"])
    assert positions and all(len(p) == 1 for p in positions.values())
    assert deterministic.ground_truth()["position_variation"]["pairs_shown_at_two_or_more_positions"] == 0


def test_daily_rhythm_and_midnight_crossings(small) -> None:
    records, _ = small
    hours = Counter(datetime.fromisoformat(r["timestamp"][:19]).hour for r in records)
    assert hours[20] > 3 * hours[3]  # evening peak, night trough
    by_execution_days: dict[str, set[str]] = defaultdict(set)
    for r in records:
        by_execution_days[r["execution_id"]].add(r["timestamp"][:10])
    assert any(len(days) > 1 for days in by_execution_days.values())  # some searches cross midnight UTC


def test_ground_truth_round_trips(small, tmp_path: Path) -> None:
    _, truth = small
    path = tmp_path / "truth.json"
    write_ground_truth(truth, path)
    loaded = json.loads(path.read_text())
    assert loaded == json.loads(json.dumps(truth))
    assert loaded["examination"]["desktop"][:3] == [0.68, 0.61, 0.48]
    assert loaded["counts"]["executions"] == sum(loaded["counts"]["executions_by_retriever"].values())
