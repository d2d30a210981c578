"""Fixtures: a real emulator on a loopback port, in a background thread, and an httpx client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mixpeek_emulator.server import EmulatorServer
from tests.conftest import StartEmulator

API_KEY = "sk_test_emulator_k3y_9f1c"
NAMESPACE = "ns_test"
OTHER_NAMESPACE = "ns_other"


class FakeClock:
    """Epoch microseconds under the test's control (dedup windows, server timestamps)."""

    def __init__(self, start_us: int = 1_790_000_000_000_000) -> None:
        self.now_us = start_us

    def __call__(self) -> int:
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += int(seconds * 1_000_000)


EmulatorFactory = Callable[..., EmulatorServer]


@pytest.fixture
def make_emulator(start_emulator: StartEmulator) -> EmulatorFactory:
    def factory(**overrides: Any) -> EmulatorServer:
        return start_emulator(
            **{"api_keys": {API_KEY: None}, "namespaces": [NAMESPACE, OTHER_NAMESPACE], **overrides}
        )

    return factory


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> EmulatorServer:
    return make_emulator()


def client_for(server: EmulatorServer, *, key: str = API_KEY, namespace: str = NAMESPACE) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {key}", "X-Namespace": namespace},
        timeout=30,
    )


@pytest.fixture
def api(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with client_for(emulator) as client:
        yield client


def interaction(**fields: Any) -> dict[str, Any]:
    """A valid create body; override any field."""
    body: dict[str, Any] = {
        "feature_id": "doc_1",
        "interaction_type": ["click"],
        "position": 0,
        "execution_id": "exec_1",
        "retriever_id": "ret_1",
        "session_id": "sess_1",
        "user_id": "user_1",
        "query_snapshot": {"text": "wireless headphones"},
        "document_score": 0.9,
        "result_set_size": 10,
        "feature_uri": "mixpeek://text_extractor@v1/multilingual_e5_large_instruct_v1",
        "metadata": {"device": "mobile"},
    }
    body.update(fields)
    return body


def batch_create(api: httpx.Client, bodies: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(bodies), 1000):
        response = api.post(
            "/v1/retrievers/interactions/batch", json={"interactions": bodies[start : start + 1000]}
        )
        assert response.status_code == 200, response.text
        ids.extend(item["interaction_id"] for item in response.json()["results"])
    return ids


def list_page(api: httpx.Client, body: dict[str, Any] | None = None, **params: Any) -> httpx.Response:
    return api.post("/v1/retrievers/interactions/list", params=params, json=body)


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["success"] is False
    assert payload["status"] == status
    assert payload["error"]["type"] == error_type
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
    return payload
