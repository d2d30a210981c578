"""Rate limiting, the error envelope on every failure, fault injection knobs and the control routes."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from mixpeek_emulator.faults import FaultConfig
from mixpeek_emulator.ratelimit import RateLimit
from tests.emulator.conftest import (
    EmulatorFactory,
    assert_envelope,
    batch_create,
    client_for,
    interaction,
    list_page,
)


def test_rate_limit_headers_and_429_with_retry_after(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(rate_limit=RateLimit(requests_per_second=5, max_concurrent=5))
    with client_for(server) as api:
        first = list_page(api)
        assert first.status_code == 200
        assert first.headers["X-RateLimit-Limit"] == "5"
        assert first.headers["X-RateLimit-Window"] == "1"
        assert int(first.headers["X-RateLimit-Reset"]) >= int(time.time())
        remaining = [int(list_page(api).headers["X-RateLimit-Remaining"]) for _ in range(3)]
        assert remaining == sorted(remaining, reverse=True)
        statuses = [list_page(api) for _ in range(5)]
        throttled = [r for r in statuses if r.status_code == 429]
        assert throttled, "the bucket holds one second of requests: a burst of 9 must be throttled"
        payload = assert_envelope(throttled[0], 429, "TooManyRequestsError")
        assert int(throttled[0].headers["Retry-After"]) >= 1
        assert 0 < payload["error"]["details"]["retry_after_seconds"] <= 1
        assert "X-RateLimit-Remaining" in throttled[0].headers
        time.sleep(1.1)
        assert list_page(api).status_code == 200  # the bucket refills


def test_concurrency_cap_is_enforced(make_emulator: EmulatorFactory) -> None:
    import concurrent.futures

    server = make_emulator(
        rate_limit=RateLimit(requests_per_second=1000, max_concurrent=2), faults=FaultConfig(latency_ms=300)
    )
    with client_for(server) as api, concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: list_page(api).status_code, range(6)))
    assert statuses.count(200) >= 2 and statuses.count(429) >= 1, statuses


@pytest.mark.parametrize(
    ("script", "status", "error_type"),
    [
        ("429", 429, "TooManyRequestsError"),
        ("500", 500, "InternalServerError"),
        ("503", 503, "ServiceUnavailableError"),
    ],
)
def test_scripted_errors_use_the_envelope(
    make_emulator: EmulatorFactory, script: str, status: int, error_type: str
) -> None:
    server = make_emulator(faults=FaultConfig(script=[script], retry_after_seconds=2))
    with client_for(server) as api:
        failed = list_page(api)
        payload = assert_envelope(failed, status, error_type)
        if status in (429, 503):
            assert failed.headers["Retry-After"] == "2"
            assert payload["error"]["details"]["retry_after_seconds"] == 2
        if status == 503:
            assert payload["error"]["details"]["retryable"] is True
        assert list_page(api).status_code == 200  # the script is spent


def test_error_rate_answers_500_and_503(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(faults=FaultConfig(error_rate=0.5, seed=3))
    with client_for(server) as api:
        statuses = [list_page(api).status_code for _ in range(60)]
    assert {500, 503, 200} <= set(statuses)
    assert 10 < statuses.count(200) < 50


def test_throttle_rate_and_scope(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(faults=FaultConfig(throttle_rate=1.0, scope="list"))
    with client_for(server) as api:
        assert list_page(api).status_code == 429
        assert api.post("/v1/retrievers/interactions", json=interaction()).status_code == 200


def test_added_latency(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(faults=FaultConfig(latency_ms=200))
    with client_for(server) as api:
        started = time.perf_counter()
        list_page(api)
        assert time.perf_counter() - started >= 0.2


def test_dropped_connection_mid_body(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(faults=FaultConfig(script=["drop"]))
    with client_for(server) as api:
        batch_create(api, [interaction(execution_id=f"e{i}") for i in range(50)])
        with pytest.raises(httpx.RemoteProtocolError):
            list_page(api, limit=50)
    with client_for(server) as api:
        assert len(list_page(api, limit=50).json()["results"]) == 50


def test_truncated_json(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(faults=FaultConfig(script=["truncate"]))
    with client_for(server) as api:
        batch_create(api, [interaction(execution_id=f"e{i}") for i in range(20)])
        response = list_page(api, limit=20)
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)


def test_malformed_record_in_a_page(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(faults=FaultConfig(malformed_rate=1.0, seed=1))
    with client_for(server) as api:
        batch_create(api, [interaction(execution_id=f"e{i}", position=i) for i in range(10)])
        results = list_page(api, limit=10).json()["results"]
    broken = [
        r
        for r in results
        if r.get("position", 0) < 0
        or "feature_id" not in r
        or r["interaction_type"] == []
        or r["timestamp"] == "not-a-timestamp"
    ]
    assert len(broken) == 1 and len(results) == 10


def test_duplicate_record_across_a_page(make_emulator: EmulatorFactory) -> None:
    server = make_emulator(faults=FaultConfig(script=["duplicate"]))
    with client_for(server) as api:
        batch_create(api, [interaction(execution_id=f"e{i}") for i in range(10)])
        ids = [r["interaction_id"] for r in list_page(api, limit=5).json()["results"]]
    assert len(ids) == 6 and len(set(ids)) == 5


def test_runtime_fault_control_and_stats(emulator) -> None:
    with client_for(emulator) as api:
        current = api.get("/_emulator/faults").json()
        assert current["error_rate"] == 0.0
        updated = api.put("/_emulator/faults", json={"script": ["503", "ok", "500"]})
        assert updated.status_code == 200 and updated.json()["script"] == ["503", "ok", "500"]
        assert [list_page(api).status_code for _ in range(4)] == [503, 200, 500, 200]
        assert_envelope(api.put("/_emulator/faults", json={"error_rate": 2}), 422, "ValidationError")
        assert_envelope(api.put("/_emulator/faults", json={"nonsense": 1}), 422, "ValidationError")
        list_page(api, offset=40, limit=20)
        stats = api.get("/_emulator/stats").json()
    assert stats["max_offset_requested"] == 40
    assert stats["by_status"]["503"] == 1 and stats["faults_injected"] == {"503": 1, "500": 1}
    assert httpx.get(emulator.base_url + "/_emulator/stats").status_code == 401
    health = httpx.get(emulator.base_url + "/_emulator/health").json()
    assert health["status"] == "ok" and health["api_version"] == "0.82"
