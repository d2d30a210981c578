"""Create, batch, get, delete, public track, validation, auth and namespaces, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from mixpeek_emulator.records import format_instant, parse_instant
from tests.emulator.conftest import (
    API_KEY,
    NAMESPACE,
    OTHER_NAMESPACE,
    EmulatorFactory,
    FakeClock,
    assert_envelope,
    client_for,
    interaction,
    list_page,
)


def test_create_stamps_enriches_and_get_returns_the_same_record(api: httpx.Client) -> None:
    response = api.post(
        "/v1/retrievers/interactions", json=interaction(interaction_type=["click", "long_view"])
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["interaction_id"].startswith("int_")
    assert created["deduplicated"] is False
    assert created["interaction_type"] == ["click", "long_view"]
    assert created["metadata"] == {"device": "mobile", "reward_value": 2.5}  # click 1.0 + long_view 1.5
    assert created["occurred_at"] is None
    assert created["warning"] is None
    parse_instant(created["timestamp"])  # server-stamped ISO-8601

    fetched = api.get(f"/v1/retrievers/interactions/{created['interaction_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_document_id_alias_and_missing_feature_uri_warning(api: httpx.Client) -> None:
    body = interaction(feature_uri=None)
    body["document_id"] = body.pop("feature_id")
    created = api.post("/v1/retrievers/interactions", json=body).json()
    assert created["feature_id"] == "doc_1"
    assert "feature_uri" in created["warning"]


def test_occurred_at_naive_is_utc_and_future_is_clamped(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    with client_for(make_emulator(clock=clock)) as api:
        past = api.post(
            "/v1/retrievers/interactions", json=interaction(occurred_at="2026-01-15T10:30:00")
        ).json()
        assert past["occurred_at"] == "2026-01-15T10:30:00.000000Z"
        assert past["timestamp"] == format_instant(clock.now_us)
        future = api.post(
            "/v1/retrievers/interactions",
            json=interaction(execution_id="e2", occurred_at="2099-01-01T00:00:00Z"),
        ).json()
        assert future["occurred_at"] == format_instant(clock.now_us)


def test_dedup_within_five_minutes_and_not_after(make_emulator: EmulatorFactory) -> None:
    clock = FakeClock()
    with client_for(make_emulator(clock=clock)) as api:
        first = api.post("/v1/retrievers/interactions", json=interaction()).json()
        clock.advance(299)
        second = api.post("/v1/retrievers/interactions", json=interaction()).json()
        assert second["deduplicated"] is True and second["interaction_id"] is None
        other_type = api.post(
            "/v1/retrievers/interactions", json=interaction(interaction_type=["impression"])
        ).json()
        assert other_type["deduplicated"] is False
        clock.advance(301)  # the window counts from the last stored copy
        third = api.post("/v1/retrievers/interactions", json=interaction()).json()
        assert third["deduplicated"] is False and third["interaction_id"] not in (
            None,
            first["interaction_id"],
        )
        total = list_page(api, include_total=True).json()["pagination"]["total"]
        assert total == 3


def test_batch_create_skips_dedup_and_enforces_size(api: httpx.Client) -> None:
    response = api.post(
        "/v1/retrievers/interactions/batch", json={"interactions": [interaction(), interaction()]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 2 and body["failed"] == 0
    assert [r["index"] for r in body["results"]] == [0, 1]
    assert len({r["interaction_id"] for r in body["results"]}) == 2
    assert_envelope(
        api.post("/v1/retrievers/interactions/batch", json={"interactions": []}), 422, "ValidationError"
    )
    too_many = {"interactions": [interaction(execution_id=f"e{i}") for i in range(1001)]}
    assert_envelope(api.post("/v1/retrievers/interactions/batch", json=too_many), 422, "ValidationError")
    exactly = {"interactions": [interaction(execution_id=f"e{i}") for i in range(1000)]}
    assert api.post("/v1/retrievers/interactions/batch", json=exactly).json()["created"] == 1000


def test_delete_is_idempotent(api: httpx.Client) -> None:
    created = api.post("/v1/retrievers/interactions", json=interaction()).json()
    path = f"/v1/retrievers/interactions/{created['interaction_id']}"
    assert api.delete(path).status_code == 200
    assert api.delete(path).status_code == 200
    payload = assert_envelope(api.get(path), 404, "NotFoundError")
    assert payload["error"]["details"]["id"] == created["interaction_id"]
    assert list_page(api).json()["results"] == []


@pytest.mark.parametrize(
    ("change", "location_tail", "error_type"),
    [
        ({"feature_id": None}, ["feature_id"], "string_type"),
        ({"interaction_type": []}, ["interaction_type"], "too_short"),
        ({"interaction_type": ["teleport"]}, ["interaction_type", 0], "enum"),
        ({"position": -1}, ["position"], "greater_than_equal"),
        ({"execution_id": None}, [], "value_error"),  # retriever_id set without execution_id
        ({"result_set_size": 0}, [], "value_error"),  # 0 only with zero_results
        ({"colour": "red"}, ["colour"], "extra_forbidden"),
    ],
)
def test_create_validation_errors(
    api: httpx.Client, change: dict, location_tail: list, error_type: str
) -> None:
    payload = assert_envelope(
        api.post("/v1/retrievers/interactions", json=interaction(**change)), 422, "ValidationError"
    )
    errors = payload["error"]["details"]["validation_errors"]
    assert any(e["type"] == error_type and e["location"] == ["body", *location_tail] for e in errors), errors
    if error_type == "extra_forbidden":
        assert "accepted keys: feature_id, document_id" in errors[0]["message"]


def test_zero_results_allows_result_set_size_zero_and_uppercase_types(api: httpx.Client) -> None:
    body = interaction(interaction_type=["ZERO_RESULTS"], result_set_size=0, feature_id="none")
    created = api.post("/v1/retrievers/interactions", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["interaction_type"] == ["zero_results"]


def test_invalid_json_body_is_a_422(api: httpx.Client) -> None:
    response = api.post(
        "/v1/retrievers/interactions", content=b"{not json", headers={"content-type": "application/json"}
    )
    payload = assert_envelope(response, 422, "ValidationError")
    assert payload["error"]["details"]["validation_errors"][0]["type"] == "json_invalid"


def test_auth_is_required_and_the_key_is_never_echoed(emulator, api: httpx.Client) -> None:
    url = emulator.base_url + "/v1/retrievers/interactions/list"
    assert_envelope(httpx.post(url, headers={"X-Namespace": NAMESPACE}), 401, "UnauthorizedError")
    wrong = "sk_wrong_secret_value"
    response = httpx.post(url, headers={"Authorization": f"Bearer {wrong}", "X-Namespace": NAMESPACE})
    assert_envelope(response, 401, "UnauthorizedError")
    assert wrong not in response.text and API_KEY not in response.text
    assert_envelope(httpx.post(url, headers={"Authorization": f"Bearer {API_KEY}"}), 400, "BadRequestError")
    missing_ns = httpx.post(url, headers={"Authorization": f"Bearer {API_KEY}", "X-Namespace": "ns_nope"})
    assert_envelope(missing_ns, 404, "NotFoundError")


def test_namespaces_are_isolated(emulator) -> None:
    with client_for(emulator) as a, client_for(emulator, namespace=OTHER_NAMESPACE) as b:
        created = a.post("/v1/retrievers/interactions", json=interaction()).json()
        assert b.get(f"/v1/retrievers/interactions/{created['interaction_id']}").status_code == 404
        assert list_page(b, include_total=True).json()["pagination"]["total"] == 0
        assert b.delete(f"/v1/retrievers/interactions/{created['interaction_id']}").status_code == 200
        assert a.get(f"/v1/retrievers/interactions/{created['interaction_id']}").status_code == 200


def test_namespace_by_id_or_name_and_keys_bound_to_namespaces(make_emulator: EmulatorFactory) -> None:
    from mixpeek_emulator.app import namespace_id_for

    server = make_emulator(
        api_keys={API_KEY: None, "sk_team_b": frozenset({"team-b"})}, namespaces=["team-a", "team-b"]
    )
    with (
        client_for(server, namespace="team-a") as by_name,
        client_for(server, namespace=namespace_id_for("team-a")) as by_id,
    ):
        created = by_name.post("/v1/retrievers/interactions", json=interaction()).json()
        assert by_id.get(f"/v1/retrievers/interactions/{created['interaction_id']}").status_code == 200
    with client_for(server, key="sk_team_b", namespace="team-a") as outsider:
        assert_envelope(list_page(outsider), 403, "ForbiddenError")
    with client_for(server, key="sk_team_b", namespace="team-b") as insider:
        assert list_page(insider).status_code == 200


def test_public_track_routes(make_emulator: EmulatorFactory) -> None:
    from mixpeek_emulator.app import PublicRetriever

    server = make_emulator(
        public_retrievers={
            "video-search": PublicRetriever(NAMESPACE, "ret_video"),
            "locked": PublicRetriever(NAMESPACE, "ret_locked", public_api_key="pk_123"),
        }
    )
    base = server.base_url + "/v1/public/retrievers"
    one = {"document_id": "doc_9", "interaction_type": ["CLICK"], "position": 2, "execution_id": "exec_p"}
    response = httpx.post(f"{base}/video-search/interactions", json=one, headers={"X-Session-ID": "sess_hdr"})
    assert response.status_code == 200 and response.json() == {}
    assert_envelope(httpx.post(f"{base}/nope/interactions", json=one), 404, "NotFoundError")
    no_exec = {k: v for k, v in one.items() if k != "execution_id"}
    assert_envelope(httpx.post(f"{base}/video-search/interactions", json=no_exec), 422, "ValidationError")
    assert_envelope(httpx.post(f"{base}/locked/interactions", json=one), 401, "UnauthorizedError")
    ok = httpx.post(f"{base}/locked/interactions", json=one, headers={"X-Public-API-Key": "pk_123"})
    assert ok.status_code == 200
    batch = {
        "interactions": [{**one, "execution_id": f"exec_b{i}", "session_id": "sess_body"} for i in range(100)]
    }
    assert httpx.post(f"{base}/video-search/interactions/batch", json=batch).status_code == 200
    over = {"interactions": [{**one, "execution_id": f"exec_c{i}"} for i in range(101)]}
    assert_envelope(httpx.post(f"{base}/video-search/interactions/batch", json=over), 422, "ValidationError")

    with client_for(server) as api:
        stored = list_page(api, {"retriever_id": "ret_video"}, limit=1000).json()["results"]
        assert len(stored) == 101
        first = next(r for r in stored if r["execution_id"] == "exec_p")
        assert (
            first["feature_id"] == "doc_9" and first["session_id"] == "sess_hdr" and first["user_id"] is None
        )
        assert first["interaction_type"] == ["click"]
        assert {r["session_id"] for r in stored if r["execution_id"].startswith("exec_b")} == {"sess_body"}
