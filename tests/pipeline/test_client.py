"""The client against the emulator's fault injection: retries, Retry-After, give-up errors without the key."""

from __future__ import annotations

import pytest

from interactions_etl.mixpeek.client import RetryPolicy
from interactions_etl.mixpeek.errors import MixpeekApiError
from mixpeek_emulator.faults import FaultConfig
from tests.pipeline.conftest import API_KEY, DAY, RecordingSleep, fill, make_client, spread_over_day

BODY = {"sort": {"field": "timestamp", "direction": "asc"}}


@pytest.mark.parametrize("fault", ["429", "500", "503", "drop", "truncate"])
def test_transient_failures_are_retried_and_counted(make_server, fault: str) -> None:
    server = make_server(faults=FaultConfig(script=[fault, fault]))
    fill(server, spread_over_day(30))
    with make_client(server) as client:
        page = client.list_interactions(BODY, limit=100)
    assert len(page.records) == 30
    assert client.stats.retries == 2 and client.stats.requests == 3
    if fault == "429":
        assert client.stats.throttled == 2


def test_retry_after_is_honoured(make_server) -> None:
    server = make_server(faults=FaultConfig(script=["429", "503"], retry_after_seconds=1.5))
    sleep = RecordingSleep()
    with make_client(server, sleep=sleep) as client:
        client.list_interactions(BODY, limit=10)
    # Each retry waited at least what the server asked (details.retry_after_seconds), not the short backoff.
    assert sleep.waits == [1.5, 1.5]


def test_backoff_grows_with_jitter_when_no_retry_after(make_server) -> None:
    server = make_server(faults=FaultConfig(script=["500"] * 4))
    sleep = RecordingSleep()
    policy = RetryPolicy(max_attempts=6, initial_backoff=1.0, max_backoff=100.0)
    with make_client(server, sleep=sleep, retry=policy) as client:
        client.list_interactions(BODY, limit=10)
    assert len(sleep.waits) == 4
    assert all(0 <= w <= 2**i for i, w in enumerate(sleep.waits)), sleep.waits


def test_gives_up_with_a_clear_error_that_never_names_the_key(make_server) -> None:
    server = make_server(faults=FaultConfig(error_rate=1.0))
    with make_client(
        server, retry=RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)
    ) as client:
        with pytest.raises(MixpeekApiError) as failure:
            client.list_interactions(BODY, limit=10)
    error = failure.value
    assert error.attempts == 3 and error.status in (500, 503)
    text = str(error)
    assert "POST /v1/retrievers/interactions/list" in text and "after 3 attempt(s)" in text
    assert error.error_type in text and error.message in text
    assert (
        API_KEY not in text and API_KEY not in repr(error.__cause__) and API_KEY not in repr(client.settings)
    )


def test_client_errors_are_not_retried(server) -> None:
    with make_client(server) as client, pytest.raises(MixpeekApiError) as failure:
        client.list_interactions({"filters": {"position": {"between": 1}}}, limit=10)
    assert failure.value.status == 422 and failure.value.error_type == "ValidationError"
    assert client.stats.requests == 1 and client.stats.retries == 0


def test_budget_caps_requests_per_second(server) -> None:
    import time

    fill(server, spread_over_day(5, DAY))
    with make_client(server, requests_per_second=20.0) as client:
        started = time.perf_counter()
        for _ in range(11):
            client.list_interactions(BODY, limit=1)
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.45  # 11 starts at 20/s need at least 10 intervals of 50 ms
