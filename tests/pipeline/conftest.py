"""Fixtures for the loader: an emulator over HTTP, a client pointed at it, a temp DuckDB file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from interactions_etl.mixpeek.client import MixpeekClient, RetryPolicy
from interactions_etl.mixpeek.settings import MixpeekSettings
from mixpeek_emulator.records import format_instant, to_micros
from mixpeek_emulator.server import EmulatorServer
from tests.conftest import StartEmulator

API_KEY = "sk_test_loader_secret_5d2e"
NAMESPACE = "ns_loader"
DAY = date(2026, 10, 5)


@pytest.fixture
def make_server(start_emulator: StartEmulator) -> Callable[..., EmulatorServer]:
    def factory(**overrides: Any) -> EmulatorServer:
        return start_emulator(**{"api_keys": {API_KEY: None}, "namespaces": [NAMESPACE], **overrides})

    return factory


@pytest.fixture
def server(make_server: Callable[..., EmulatorServer]) -> EmulatorServer:
    return make_server()


class RecordingSleep:
    """Stands in for time.sleep in retry tests: records the waits, sleeps a token amount."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(server: EmulatorServer, **kwargs: Any) -> MixpeekClient:
    settings = MixpeekSettings(base_url=server.base_url, api_key=SecretStr(API_KEY), namespace=NAMESPACE)
    kwargs.setdefault("requests_per_second", 1000.0)
    kwargs.setdefault("retry", RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05))
    return MixpeekClient(settings, **kwargs)


def record(i: int, at: datetime, **fields: Any) -> dict[str, Any]:
    """A complete stored record (as the emulator keeps it) with a chosen timestamp."""
    data: dict[str, Any] = {
        "feature_id": f"doc_{i % 50}",
        "interaction_type": ["impression"] if i % 3 else ["click", "long_view"],
        "position": i % 10,
        "metadata": {"device": "mobile", "reward_value": 0.0},
        "user_id": f"user_{i % 7}",
        "session_id": f"sess_{i // 5}",
        "execution_id": f"exec_{i // 10}",
        "retriever_id": "ret_test",
        "query_snapshot": {"text": "shoes"},
        "document_score": 0.5,
        "result_set_size": 10,
        "feature_uri": "mixpeek://text_extractor@v1/e5",
        "occurred_at": None,
        "interaction_id": f"int_{i:024d}",
        "deduplicated": False,
        "timestamp": format_instant(to_micros(at)),
        "warning": None,
    }
    data.update(fields)
    return data


def fill(server: EmulatorServer, records: list[dict[str, Any]]) -> None:
    server.emulator.stores[next(iter(server.emulator.stores))].bulk_insert(records)


def spread_over_day(n: int, day: date = DAY, start_index: int = 0) -> list[dict[str, Any]]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    step = timedelta(days=1) / n
    return [record(start_index + i, start + step * i) for i in range(n)]
