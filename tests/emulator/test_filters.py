"""The filter compiler on its own: what becomes an index range, what stays a predicate, and error locations."""

from __future__ import annotations

import pytest

from mixpeek_emulator.filters import (
    MAX_FILTER_DEPTH,
    FilterError,
    TimeRange,
    compile_filters,
    compile_list_query,
)
from mixpeek_emulator.records import make_stored, parse_instant

T0 = parse_instant("2026-10-01T00:00:00Z")
T1 = parse_instant("2026-10-02T00:00:00Z")


def stored(seq: int, ts: str, **fields) -> object:
    data = {"feature_id": "d", "interaction_type": ["click"], "position": 0, "metadata": {"device": "mobile"},
            "interaction_id": f"int_{seq}", "timestamp": ts, "occurred_at": None}  # fmt: skip
    data.update(fields)
    return make_stored(seq, data)


def test_a_plain_window_is_all_index_no_predicate() -> None:
    query = compile_filters({"timestamp": {"gte": "2026-10-01", "lt": "2026-10-02T00:00:00Z"}})
    assert query.predicate is None
    assert query.time_range == TimeRange(T0, True, T1, False)
    explicit = compile_filters(
        {"AND": [{"field": "timestamp", "operator": "gte", "value": "2026-10-01T00:00:00Z", "case_sensitive": False},
                 {"AND": [{"field": "created_at", "operator": "lt", "value": "2026-10-02T00:00:00+00:00"}]}]}
    )  # fmt: skip
    assert explicit.predicate is None and explicit.time_range == TimeRange(T0, True, T1, False)


def test_ranges_intersect_and_tightest_bound_wins() -> None:
    query = compile_filters(
        {
            "timestamp": {"gt": "2026-10-01"},
            "AND": [{"field": "timestamp", "operator": "gte", "value": "2026-10-01"}],
        }
    )
    assert query.time_range == TimeRange(T0, False, None, False)


def test_time_conditions_under_or_and_not_stay_in_the_predicate() -> None:
    query = compile_filters(
        {"OR": [{"field": "timestamp", "operator": "lt", "value": "2026-10-01"}, {"position": 3}]}
    )
    assert query.time_range is None and query.predicate is not None
    before = stored(1, "2026-09-30T23:59:59.999999Z", position=0)
    after = stored(2, "2026-10-01T00:00:00.000000Z", position=0)
    assert query.matches(before) and not query.matches(after)
    negated = compile_filters({"NOT": [{"field": "timestamp", "operator": "gte", "value": "2026-10-01"}]})
    assert negated.time_range is None and negated.matches(before) and not negated.matches(after)


def test_body_fields_combine_with_the_range() -> None:
    query = compile_list_query({"filters": {"timestamp": {"gte": "2026-10-01"}}, "execution_id": "e1",
                                "interaction_type": "CLICK", "sort": {"field": "position"}})  # fmt: skip
    assert query.time_range == TimeRange(T0, True, None, False)
    assert query.matches(stored(1, "2026-10-01T01:00:00Z", execution_id="e1"))
    assert not query.matches(stored(2, "2026-10-01T01:00:00Z", execution_id="e2"))
    assert not query.matches(stored(3, "2026-09-01T01:00:00Z", execution_id="e1"))


@pytest.mark.parametrize(
    ("filters", "location", "error_type"),
    [
        ({"AND": [{"position": 1}, {"field": "position", "operator": "approx", "value": 1}]},
         ["body", "filters", "AND", 1, "operator"], "unsupported_operator"),
        ({"OR": "position"}, ["body", "filters", "OR"], "value_error"),
        ({"AND": []}, ["body", "filters", "AND"], "value_error"),
        ({"position": {}}, ["body", "filters", "position"], "value_error"),
        ({"position": {"in": 3}}, ["body", "filters", "position", "in", "value"], "value_error"),
        ({"timestamp": {"gte": "yesterday"}}, ["body", "filters", "timestamp", "gte", "value"], "datetime_parsing"),
        ({"case_sensitive": "yes", "position": 1}, ["body", "filters", "case_sensitive"], "value_error"),
        ({"AND": [{"field": "position", "operator": "eq"}]}, ["body", "filters", "AND", 0, "value"], "missing"),
        ({"metadata.device": {"eq": {"type": "dynamic", "field": "inputs.device"}}},
         ["body", "filters", "metadata.device", "eq", "value"], "value_error"),
    ],
)  # fmt: skip
def test_errors_point_at_the_offending_spot(filters: dict, location: list, error_type: str) -> None:
    with pytest.raises(FilterError) as failure:
        compile_filters(filters)
    assert failure.value.location == location and failure.value.error_type == error_type


def test_depth_limit() -> None:
    node: dict = {"position": 1}
    for _ in range(MAX_FILTER_DEPTH - 1):
        node = {"AND": [node]}
    compile_filters(node)  # exactly at the limit: accepted
    with pytest.raises(FilterError) as failure:
        compile_filters({"AND": [node]})
    assert failure.value.error_type == "too_deep"
