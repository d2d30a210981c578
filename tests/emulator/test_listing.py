"""The list route: body filters, the LogicalOperator grammar end to end, sort, every pagination mode and its
limits, cursors under concurrent inserts."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tests.emulator.conftest import (
    EmulatorFactory,
    FakeClock,
    assert_envelope,
    batch_create,
    client_for,
    interaction,
    list_page,
)

LIST = "/v1/retrievers/interactions/list"


@pytest.fixture
def clocked(make_emulator: EmulatorFactory) -> tuple[httpx.Client, FakeClock]:
    """A server whose timestamps advance one second per record, so order by timestamp is known."""
    clock = FakeClock()
    server = make_emulator(clock=clock)
    return client_for(server), clock


def seed_records(api: httpx.Client, clock: FakeClock, bodies: list[dict[str, Any]]) -> list[str]:
    ids = []
    for body in bodies:
        clock.advance(1)
        response = api.post("/v1/retrievers/interactions", json=body)
        assert response.status_code == 200, response.text
        ids.append(response.json()["interaction_id"])
    return ids


def ids_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["items"] == payload["results"]  # the deprecated alias the SDK still requires
    return [r["interaction_id"] for r in payload["results"]]


@pytest.fixture
def sample(clocked: tuple[httpx.Client, FakeClock]) -> tuple[httpx.Client, list[str]]:
    api, clock = clocked
    bodies = [
        interaction(
            execution_id="e1",
            feature_id="doc_a",
            position=0,
            interaction_type=["impression"],
            metadata={"device": "mobile", "duration_ms": 1200},
            query_snapshot={"text": "Red Shoes"},
        ),
        interaction(
            execution_id="e1",
            feature_id="doc_a",
            position=0,
            interaction_type=["click", "long_view"],
            metadata={"device": "mobile", "duration_ms": 45000},
            query_snapshot={"text": "Red Shoes"},
        ),
        interaction(
            execution_id="e2",
            feature_id="doc_b",
            position=3,
            interaction_type=["impression"],
            user_id="user_2",
            session_id="sess_2",
            retriever_id="ret_2",
            metadata={"device": "desktop", "campaign": "Summer_Sale"},
            query_snapshot={"text": "blue running shoes"},
        ),
        interaction(
            execution_id="e2",
            feature_id="doc_c",
            position=7,
            interaction_type=["purchase"],
            user_id="user_2",
            session_id="sess_2",
            retriever_id="ret_2",
            metadata={"device": "desktop", "order_value": 59.9},
            document_score=None,
            query_snapshot={"text": "blue running shoes"},
        ),
        interaction(
            execution_id="e3",
            feature_id="doc_d",
            position=12,
            interaction_type=["skip"],
            user_id=None,
            metadata={"device": "tablet"},
            occurred_at="2026-01-02T00:00:00Z",
            query_snapshot={"text": "hat"},
        ),
    ]
    return api, seed_records(api, clock, bodies)


def test_default_order_is_newest_first_and_default_page_size_is_ten(clocked) -> None:
    api, clock = clocked
    ids = seed_records(api, clock, [interaction(execution_id=f"e{i}") for i in range(12)])
    page = list_page(api)
    assert ids_of(page) == list(reversed(ids))[:10]
    pagination = page.json()["pagination"]
    assert pagination["page_size"] == 10 and pagination["page"] == 1
    assert pagination["total"] is None and pagination["total_pages"] is None
    assert pagination["next_page"] is None and pagination["previous_page"] is None
    assert pagination["next_cursor"]


def test_body_exact_match_filters(sample) -> None:
    api, ids = sample
    assert set(ids_of(list_page(api, {"execution_id": "e2"}))) == {ids[2], ids[3]}
    assert set(ids_of(list_page(api, {"retriever_id": "ret_2"}))) == {ids[2], ids[3]}
    assert set(ids_of(list_page(api, {"session_id": "sess_2", "feature_id": "doc_c"}))) == {ids[3]}
    assert set(ids_of(list_page(api, {"user_id": "user_2"}))) == {ids[2], ids[3]}
    assert set(ids_of(list_page(api, {"interaction_type": "long_view"}))) == {ids[1]}
    assert set(ids_of(list_page(api, {"interaction_type": "impression"}))) == {ids[0], ids[2]}
    assert ids_of(list_page(api, {"feature_id": "doc_zzz"})) == []


# Each operator end to end: the filter grammar's semantics are unit-tested in test_filters.py; here the route
# must pass the body through, answer the right records, and refuse bad filters with a 422.
OPERATOR_CASES: list[tuple[dict[str, Any], set[int]]] = [
    ({"position": 3}, {2}),
    ({"position": {"eq": 0}}, {0, 1}),
    ({"position": {"ne": 0}}, {2, 3, 4}),
    ({"position": {"gt": 3}}, {3, 4}),
    ({"position": {"$gte": 3}}, {2, 3, 4}),
    ({"position": {"lt": 3}}, {0, 1}),
    ({"position": {"lte": 3, "gt": 0}}, {2}),
    ({"metadata.device": {"in": ["tablet", "DESKTOP"]}}, {2, 3, 4}),
    ({"metadata.device": {"nin": ["mobile"]}}, {2, 3, 4}),
    ({"query_snapshot.text": {"contains": "shoes"}}, {0, 1, 2, 3}),
    ({"query_snapshot.text": {"starts_with": "blue"}}, {2, 3}),
    ({"query_snapshot.text": {"ends_with": "SHOES"}}, {0, 1, 2, 3}),
    ({"feature_id": {"regex": "^doc_[ab]$"}}, {0, 1, 2}),
    ({"metadata.order_value": {"exists": True}}, {3}),
    ({"user_id": {"is_null": True}}, {4}),
    ({"query_snapshot.text": {"text": "running hat"}}, {2, 3, 4}),
    ({"interaction_type": "click"}, {1}),
    ({"metadata.duration_ms": {"gte": 10000}}, {1}),
    (
        {
            "AND": [
                {"field": "position", "operator": "lte", "value": 5},
                {"field": "interaction_type", "operator": "in", "value": ["click", "purchase"]},
            ]
        },
        {1},
    ),
    (
        {
            "OR": [
                {"field": "interaction_type", "operator": "eq", "value": "purchase"},
                {"field": "metadata.duration_ms", "operator": "gte", "value": 10000},
            ]
        },
        {1, 3},
    ),
    ({"NOT": [{"field": "metadata.device", "operator": "eq", "value": "mobile"}]}, {2, 3, 4}),
    ({"query_snapshot.text": "red shoes"}, {0, 1}),
    ({"case_sensitive": True, "query_snapshot.text": "red shoes"}, set()),
    (
        {
            "AND": [
                {
                    "field": "query_snapshot.text",
                    "operator": "eq",
                    "value": "red shoes",
                    "case_sensitive": True,
                }
            ]
        },
        set(),
    ),
    ({"occurred_at": {"lt": "2026-02-01"}}, {4}),
    ({"query_snapshot.text": {"phrase": "running shoes"}}, {2, 3}),
    ({"query_snapshot.text": {"phrase": "shoes running"}}, set()),
    ({"query_snapshot.text": {"words": "shoes blue"}}, {2, 3}),
    ({"metadata.order_value": {"exists": False}}, {0, 1, 2, 4}),
    ({"user_id": {"is_null": False}}, {0, 1, 2, 3}),
    ({"metadata.duration_ms": {"ne": 1200}}, {1, 2, 3, 4}),  # a missing field satisfies ne
    ({"interaction_type": {"in": ["long_view"]}}, {1}),
    ({"interaction_type": {"nin": ["impression", "click"]}}, {3, 4}),
    ({"feature_id": {"regex": "DOC_A"}}, {0, 1}),
    (
        {"AND": [{"field": "feature_id", "operator": "regex", "value": "DOC_A", "case_sensitive": True}]},
        set(),
    ),
    ({"OR": [{"NOT": [{"field": "position", "operator": "lt", "value": 12}]}, {"position": 3}]}, {2, 4}),
    ({"document_score": {"gte": 0.5}}, {0, 1, 2, 4}),
    ({"position": {"gt": "3"}}, set()),  # a string never orders against a number
    ({"created_at": {"gte": "2020-01-01"}}, {0, 1, 2, 3, 4}),
]


@pytest.mark.parametrize(
    ("filters", "expected"), OPERATOR_CASES, ids=[str(c[0])[:60] for c in OPERATOR_CASES]
)
def test_filter_operators_over_http(sample, filters: dict[str, Any], expected: set[int]) -> None:
    api, ids = sample
    got = set(ids_of(list_page(api, {"filters": filters}, limit=100)))
    assert got == {ids[i] for i in expected}


def test_timestamp_windows_and_their_negations(clocked) -> None:
    from mixpeek_emulator.records import format_instant

    api, clock = clocked
    start = clock.now_us
    ids = seed_records(api, clock, [interaction(execution_id=f"e{i}", position=i) for i in range(6)])
    at = [format_instant(start + (i + 1) * 1_000_000) for i in range(6)]  # record i was stamped at[i]

    def window(filters: dict[str, Any]) -> set[str]:
        return set(ids_of(list_page(api, {"filters": filters}, limit=100)))

    assert window({"timestamp": {"gte": at[1], "lt": at[4]}}) == set(ids[1:4])
    assert window({"AND": [{"field": "created_at", "operator": "gt", "value": at[1]},
                           {"field": "timestamp", "operator": "lte", "value": at[4]}]}) == set(ids[2:5])  # fmt: skip
    assert window({"timestamp": at[2]}) == {ids[2]}
    assert window({"OR": [{"field": "timestamp", "operator": "lt", "value": at[1]}, {"position": 5}]}) == {
        ids[0],
        ids[5],
    }
    assert window({"NOT": [{"field": "timestamp", "operator": "gte", "value": at[2]}]}) == set(ids[:2])
    assert window({"timestamp": {"gte": at[1], "lt": at[4]}, "position": {"ne": 2}}) == {ids[1], ids[3]}


def test_search_matches_metadata_values_case_insensitively(sample) -> None:
    api, ids = sample
    assert set(ids_of(list_page(api, {"search": "summer_sale"}))) == {ids[2]}
    assert set(ids_of(list_page(api, {"search": "59.9"}))) == {ids[3]}


@pytest.mark.parametrize(
    "filters",
    [
        {"position": {"between": [1, 2]}},
        {"metadata.device": {"in": "mobile"}},
        {"feature_id": {"regex": "("}},
        {"position": {"geo_radius": {"lat": 0, "lon": 0, "radius": 1}}},
        {"timestamp": {"gte": "not a date"}},
        {
            "AND": [
                {
                    "AND": [
                        {
                            "AND": [
                                {
                                    "AND": [
                                        {"AND": [{"AND": [{"AND": [{"AND": [{"AND": [{"position": 1}]}]}]}]}]}
                                    ]
                                }
                            ]
                        }
                    ]
                }
            ]
        },
    ],
    ids=["unknown-operator", "in-needs-list", "bad-regex", "geo", "bad-date", "too-deep"],
)
def test_bad_filters_are_422(api: httpx.Client, filters: dict[str, Any]) -> None:
    payload = assert_envelope(list_page(api, {"filters": filters}), 422, "ValidationError")
    error = payload["error"]["details"]["validation_errors"][0]
    assert error["location"][:2] == ["body", "filters"]


def test_sort_orders(sample) -> None:
    api, ids = sample
    assert ids_of(list_page(api, {"sort": {"field": "timestamp"}})) == ids  # direction defaults to asc
    assert ids_of(list_page(api, {"sort": {"field": "created_at", "direction": "desc"}})) == list(
        reversed(ids)
    )
    by_position = ids_of(list_page(api, {"sort": {"field": "position", "direction": "desc"}}))
    assert by_position == [ids[4], ids[3], ids[2], ids[1], ids[0]]  # ties (position 0) by insertion, reversed
    assert ids_of(list_page(api, {"sort": {"field": "position", "direction": "asc"}})) == ids
    by_device = ids_of(list_page(api, {"sort": {"field": "metadata.device"}}))
    assert by_device == [ids[2], ids[3], ids[0], ids[1], ids[4]]  # desktop < mobile < tablet
    nulls_first = ids_of(list_page(api, {"sort": {"field": "document_score"}}))
    assert nulls_first[0] == ids[3]


def test_offset_page_and_limit_modes(clocked) -> None:
    api, clock = clocked
    ids = seed_records(api, clock, [interaction(execution_id=f"e{i}") for i in range(25)])
    asc = {"sort": {"field": "timestamp", "direction": "asc"}}
    assert ids_of(list_page(api, asc, limit=5, offset=5)) == ids[5:10]
    assert ids_of(list_page(api, asc, page_size=4, page=3)) == ids[8:12]
    assert ids_of(list_page(api, asc, limit=3, page_size=7)) == ids[:3]  # limit wins over page_size
    assert ids_of(list_page(api, asc, limit=5, page=3, offset=1)) == ids[1:6]  # offset wins over page
    third = list_page(api, asc, limit=10, page=3, include_total=True).json()
    assert [r["interaction_id"] for r in third["results"]] == ids[20:]
    assert third["pagination"] | {"next_cursor": None} == {
        "total": 25,
        "page": 3,
        "page_size": 10,
        "total_pages": 3,
        "next_page": None,
        "previous_page": None,
        "next_cursor": None,
    }
    assert third["pagination"]["next_cursor"] is None  # nothing after the last page
    assert list_page(api, asc, limit=10, offset=10000).json()["results"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"page_size": 1001},
        {"offset": -1},
        {"offset": 10001},
        {"page": 0},
        {"page": 12, "limit": 1000},
        {"limit": "ten"},
        {"include_total": "maybe"},
    ],
)
def test_pagination_limits_are_422(api: httpx.Client, params: dict[str, Any]) -> None:
    payload = assert_envelope(list_page(api, None, **params), 422, "ValidationError")
    assert payload["error"]["details"]["validation_errors"][0]["location"][0] == "query"


def test_include_total_in_the_body_too(sample) -> None:
    api, _ = sample
    assert list_page(api, {"include_total": True}).json()["pagination"]["total"] == 5


def test_cursor_pages_cover_everything_once_in_every_sort(clocked) -> None:
    api, clock = clocked
    bodies = [interaction(execution_id=f"e{i}", position=i % 4) for i in range(23)]
    ids = seed_records(api, clock, bodies)
    for sort in (None, {"field": "timestamp"}, {"field": "position", "direction": "desc"}):
        body = {"sort": sort} if sort else {}
        seen: list[str] = []
        response = list_page(api, body, limit=5)
        pages = 1
        while True:
            seen.extend(ids_of(response))
            token = response.json()["pagination"]["next_cursor"]
            if not token:
                break
            pages += 1
            alias = ("cursor", "next_cursor", "after")[pages % 3]
            response = list_page(
                api, body, limit=5, offset=20, **{alias: token}
            )  # the cursor overrides offset
            assert response.json()["pagination"]["page"] == pages
        assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen)), sort
        assert pages == 5


def test_cursor_is_bound_to_its_query_and_sort(sample) -> None:
    api, _ = sample
    token = list_page(api, {"filters": {"position": {"lte": 10}}}, limit=1).json()["pagination"][
        "next_cursor"
    ]
    changed = list_page(api, {"filters": {"position": {"lte": 11}}}, limit=1, cursor=token)
    assert_envelope(changed, 422, "ValidationError")
    resorted = list_page(
        api, {"filters": {"position": {"lte": 10}}, "sort": {"field": "position"}}, cursor=token
    )
    assert_envelope(resorted, 422, "ValidationError")
    assert_envelope(list_page(api, None, cursor="garbage!"), 422, "ValidationError")


@pytest.mark.parametrize("sort", [None, {"field": "timestamp", "direction": "asc"}, {"field": "position"}])
def test_cursor_neither_skips_nor_repeats_while_records_are_inserted(
    make_emulator: EmulatorFactory, sort
) -> None:
    server = make_emulator()
    with client_for(server) as api:
        existing = set(
            batch_create(api, [interaction(execution_id=f"old{i}", position=i % 20) for i in range(3000)])
        )
    stop = threading.Event()
    inserted: list[str] = []

    def writer() -> None:
        with client_for(server) as w:
            i = 0
            while not stop.is_set():
                bodies = [interaction(execution_id=f"new{i}_{j}", position=(i + j) % 20) for j in range(20)]
                inserted.extend(batch_create(w, bodies))
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen: list[str] = []
        body = {"sort": sort} if sort else {}
        with client_for(server) as api:
            response = list_page(api, body, limit=100)
            while True:
                seen.extend(ids_of(response))
                token = response.json()["pagination"]["next_cursor"]
                if not token:
                    break
                response = list_page(api, body, limit=100, cursor=token)
    finally:
        stop.set()
        thread.join()
    assert len(inserted) > 0, "the writer must have inserted while we paged"
    assert len(seen) == len(set(seen)), "a record was repeated"
    assert existing <= set(seen), f"{len(existing - set(seen))} pre-existing records were skipped"
