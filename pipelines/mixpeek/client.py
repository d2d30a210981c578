"""HTTP client of the interactions API: auth headers, a shared request budget, retries that honour Retry-After.

Thread-safe: one client serves every worker of a load. The budget (requests per second and requests in flight)
is shared, and a 429 pauses all workers until its Retry-After has passed, so a throttled load backs off as one.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import orjson
import tenacity

from interactions_etl.mixpeek.errors import MixpeekApiError, TransientError
from interactions_etl.mixpeek.models import LIST_PAGE_DECODER, ListPage
from interactions_etl.mixpeek.settings import MixpeekSettings

LIST_PATH = "/v1/retrievers/interactions/list"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    max_total_seconds: float = 600.0  # per request, all attempts and waits included
    initial_backoff: float = 0.5
    max_backoff: float = 30.0


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers
    by_status: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, status: int | None, retried: bool = False) -> None:
        with self._lock:
            self.requests += 1
            if status is not None:
                self.by_status[status] = self.by_status.get(status, 0) + 1
            if status == 429:
                self.throttled += 1
            if retried:
                self.retries += 1


class RequestBudget:
    """At most `requests_per_second` starts per second and `max_in_flight` requests at once, across threads."""

    def __init__(
        self, requests_per_second: float, max_in_flight: int, sleep: Callable[[float], None] = time.sleep
    ):
        if requests_per_second <= 0 or max_in_flight < 1:
            raise ValueError("requests_per_second must be > 0 and max_in_flight >= 1")
        self._interval = 1.0 / requests_per_second
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._next_start = time.monotonic()
        self._sleep = sleep

    def pause(self, seconds: float) -> None:
        """Nobody starts a request for `seconds` (the server said Retry-After)."""
        with self._lock:
            self._next_start = max(self._next_start, time.monotonic() + seconds)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start)
                self._next_start = start + self._interval
            if start > now:
                self._sleep(start - now)
            yield


def _retry_after(response: httpx.Response, error: dict[str, Any]) -> float | None:
    details = error.get("details") if isinstance(error, dict) else None
    if isinstance(details, dict) and isinstance(details.get("retry_after_seconds"), int | float):
        return float(details["retry_after_seconds"])
    header = response.headers.get("retry-after")
    if header:
        try:
            return float(header)
        except ValueError:
            return None  # an HTTP-date: fall back to backoff rather than parse calendars
    return None


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {"type": None, "message": response.text[:200] or response.reason_phrase}
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return payload["error"]
    if isinstance(payload, dict) and "detail" in payload:  # FastAPI's own 422 shape, from older servers
        return {"type": "ValidationError", "message": str(payload["detail"])[:500]}
    return {"type": None, "message": str(payload)[:200]}


class MixpeekClient:
    def __init__(
        self,
        settings: MixpeekSettings,
        *,
        requests_per_second: float = 10.0,  # the free tier
        max_in_flight: int = 5,
        timeout_seconds: float = 60.0,
        retry: RetryPolicy | None = None,
        verify_tls: bool = True,
        sleep: Callable[[float], None] = time.sleep,  # the wait between attempts (tests record it)
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.max_in_flight = max_in_flight
        self.stats = ClientStats()
        self.budget = RequestBudget(requests_per_second, max_in_flight)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={
                "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
                "X-Namespace": settings.namespace,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=timeout_seconds,
            verify=verify_tls,
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MixpeekClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request, with retries ---------------------------------------------------------------------------

    def _wait_seconds(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        # Full jitter (AWS architecture blog): spreads a herd of retrying workers.
        backoff = random.uniform(
            0, min(self.retry.max_backoff, self.retry.initial_backoff * 2 ** (state.attempt_number - 1))
        )
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return max(exc.retry_after, backoff if exc.status != 429 else 0.0)
        return backoff

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any],
        body: Any,
        decode: Callable[[bytes], Any] = orjson.loads,
    ) -> Any:
        content = orjson.dumps(body) if body is not None else None
        attempt = 0

        def once() -> Any:
            nonlocal attempt
            attempt += 1
            with self.budget.slot():
                try:
                    response = self._http.request(method, path, params=params, content=content)
                except httpx.ConnectError as exc:
                    self.stats.count(None, retried=attempt > 1)
                    if not self.stats.by_status:
                        # Nothing has ever answered: a wrong URL or a server that is not there. Retrying for
                        # minutes would only hide that; once the server has answered, a refusal is a restart.
                        raise MixpeekApiError(
                            f"{method} {path}",
                            status=None,
                            error_type="ConnectError",
                            message=f"cannot connect to {self.settings.base_url} ({exc or 'refused'}): "
                            "check MIXPEEK_BASE_URL",
                            attempts=attempt,
                        ) from exc
                    raise TransientError(None, type(exc).__name__, str(exc) or type(exc).__name__) from exc
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    self.stats.count(None, retried=attempt > 1)
                    # A dropped connection or a timeout: the request may be repeated, lists are reads.
                    raise TransientError(None, type(exc).__name__, str(exc) or type(exc).__name__) from exc
            self.stats.count(response.status_code, retried=attempt > 1)
            if response.status_code >= 400:
                error = _error_of(response)
                message = str(error.get("message") or response.reason_phrase)
                if response.status_code in RETRYABLE_STATUSES:
                    retry_after = _retry_after(response, error)
                    if response.status_code == 429 and retry_after:
                        self.budget.pause(retry_after)
                    raise TransientError(response.status_code, error.get("type"), message, retry_after)
                raise MixpeekApiError(
                    f"{method} {path}",
                    status=response.status_code,
                    error_type=error.get("type"),
                    message=message,
                    attempts=attempt,
                    details=error.get("details") if isinstance(error.get("details"), dict) else None,
                )
            try:
                return decode(response.content)
            except msgspec.ValidationError as exc:  # well-formed JSON of the wrong shape: no retry helps
                raise MixpeekApiError(
                    f"{method} {path}",
                    status=response.status_code,
                    error_type="InvalidResponse",
                    message=f"the answer does not have the documented shape: {exc}",
                    attempts=attempt,
                ) from exc
            except (orjson.JSONDecodeError, msgspec.DecodeError) as exc:
                # A body cut short in transit: the same request answered again is the fix.
                raise TransientError(
                    response.status_code, "InvalidJSON", f"unparsable JSON body: {exc}"
                ) from exc

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            wait=self._wait_seconds,
            stop=tenacity.stop_after_attempt(self.retry.max_attempts)
            | tenacity.stop_after_delay(self.retry.max_total_seconds),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(once)
        except TransientError as exc:
            raise MixpeekApiError(
                f"{method} {path}",
                status=exc.status,
                error_type=exc.error_type,
                message=exc.message,
                attempts=attempt,
            ) from exc

    # -- endpoints -------------------------------------------------------------------------------------------

    def list_interactions(
        self,
        body: dict[str, Any],
        *,
        limit: int,
        cursor: str | None = None,
        offset: int | None = None,
        include_total: bool = False,
    ) -> ListPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        elif offset:
            params["offset"] = offset
        if include_total:
            params["include_total"] = "true"
        return self._send("POST", LIST_PATH, params=params, body=body, decode=_decode_list_page)


def _decode_list_page(content: bytes) -> ListPage:
    """A list answer, or a TransientError when the body is no page of records: a proxy or gateway glitch is
    retried like a 5xx, and a server that keeps answering so fails the load instead of emptying the day."""
    try:
        page = LIST_PAGE_DECODER.decode(content)
    except msgspec.DecodeError:
        lenient = _decode_complete_page(content)
        if lenient is None:
            raise  # really cut short: retried
        page = lenient
    problem = page.problem()
    if problem is not None:
        raise TransientError(200, "InvalidResponse", problem)
    return page


def _decode_complete_page(content: bytes) -> ListPage | None:
    """A body msgspec refuses that is nonetheless complete JSON: text that is not valid Unicode (a lone UTF-16
    surrogate escape, invalid UTF-8) inside a record. msgspec calls it truncated; retrying it would give the
    same body every time. Python's parser reads it, the readable records pass on as they are, and each
    unreadable one travels as ASCII-escaped JSON, which the record validation then quarantines. None when the
    body really is cut short."""
    try:
        parsed = json.loads(content.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    rows = parsed.pop("results", None)
    items = parsed.pop("items", None)
    try:
        page = LIST_PAGE_DECODER.decode(orjson.dumps(parsed))
    except (TypeError, msgspec.MsgspecError):
        return None  # the page itself, not one record, is unreadable: retried, then a failure that says so
    records = rows if rows is not None else items
    if isinstance(records, list):
        raws = []
        for record in records:
            try:
                raws.append(msgspec.Raw(orjson.dumps(record)))
            except TypeError:  # orjson refuses strings with surrogates
                raws.append(msgspec.Raw(json.dumps(record, ensure_ascii=True).encode()))
        page.results = raws
    return page
