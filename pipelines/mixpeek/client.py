"""HTTP client of the interactions API: auth headers, a shared request budget, retries that honour Retry-After.

Thread-safe: one client serves every worker of a load. The budget (requests per second and requests in flight)
is shared, and a 429 pauses all workers until its Retry-After has passed, so a throttled load backs off as one.

Every answer is bounded (docs/reliability.md, "Hostile answers"): its body is read as a stream and refused past
`max_answer_bytes` (received and decoded bytes both counted), and each attempt has a total deadline on top of the
per-read timeout. Redirects are refused, never followed: the key goes to MIXPEEK_BASE_URL and nowhere else.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import msgspec
import orjson
import tenacity

from interactions_etl.mixpeek.errors import MixpeekApiError, TransientError
from interactions_etl.mixpeek.models import LIST_PAGE_DECODER, ListPage
from interactions_etl.mixpeek.settings import (
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_REQUEST_DEADLINE_SECONDS,
    MixpeekSettings,
)
from interactions_etl.redaction import holds_secret, redact, redact_bytes

LIST_PATH = "/v1/retrievers/interactions/list"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MIB = 1024 * 1024


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


class _Deadline(threading.local):
    """The monotonic time by which the current thread's attempt must be over (None: no deadline)."""

    at: float | None = None

    def remaining(self, timeout: float | None) -> float | None:
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the request deadline has passed")
        return left if timeout is None else min(timeout, left)

    def passed(self) -> bool:
        # A read given the time left times out at the deadline, not before: the clock tells which it was.
        return self.at is not None and time.monotonic() >= self.at


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake waits no longer than the deadline of the attempt
    using it: a per-read timeout alone never fires on an answer that trickles a byte at a time."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.remaining(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, self._deadline.remaining(timeout))
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend, deadline: _Deadline) -> None:
        self._backend = backend
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, self._deadline.remaining(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(path, self._deadline.remaining(timeout), socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _bound(transport: httpx.BaseTransport | None, deadline: _Deadline) -> None:
    """Give `transport`'s connections the deadline. httpx takes no network backend of its own; its pool
    (httpcore's ConnectionPool, or HTTPProxy for a proxy from the environment) does. If a new httpx renames
    these, fail here, at the start of every load, rather than run without the deadline."""
    if transport is None:
        return
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError(
            "this httpx has no httpcore connection pool to bound: use httpx 0.28, as pyproject.toml asks"
        )
    pool._network_backend = _DeadlineBackend(pool._network_backend, deadline)


class _Refused(Exception):
    """An answer the client will not read: over the size limit, or in an encoding it did not ask for."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


READABLE_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})  # what httpx asks for without brotli or zstd
INFLATE_STEP = 1024 * 1024  # the most one decoding step yields: 64 KiB of deflate can hold 64 MiB


def _inflate(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """`chunks` decoded, at most INFLATE_STEP bytes at a time, whatever the ratio. httpx's own decoders inflate
    a whole network read at once, and through every stage of `gzip, gzip`: a few KB can become GiB in one
    call, before any limit could look at it."""
    stage: Any = None
    for data in chunks:
        if not data:
            continue
        if stage is None:
            # deflate comes with zlib's wrapper or, from some servers, raw; 32 + 15 reads gzip's and zlib's.
            # zlib's header: compression method 8 and a 16-bit check divisible by 31.
            wrapped = len(data) < 2 or (data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0)
            stage = zlib.decompressobj(-zlib.MAX_WBITS if encoding == "deflate" and not wrapped else 32 + 15)
        while not stage.eof:  # bytes after the end are ignored, as httpx does
            out = stage.decompress(data, INFLATE_STEP)
            if out:
                yield out
            data = stage.unconsumed_tail
            if not data and len(out) < INFLATE_STEP:
                break  # this chunk is used up and no output is pending (a full step may leave some: ask again)
    if stage is not None and not stage.eof:
        rest = stage.flush()  # a body cut short: what it holds, which will not parse (retried)
        if rest:
            yield rest


def _read_body(response: httpx.Response, limit: int) -> bytes:
    """The decoded body, read as it arrives and refused as soon as the bytes received or decoded pass `limit`
    (httpx's `read()` would hold all of them first). At most a few INFLATE_STEPs are held beyond it."""
    named = response.headers.get("content-encoding", "")
    encodings = [e for e in (part.strip().lower() for part in named.split(",")) if e and e != "identity"]
    if any(e not in READABLE_ENCODINGS for e in encodings):
        raise _Refused(
            "UnreadableEncoding", f"the answer is encoded as {named!r}, which the client did not ask for"
        )
    shown = f" ({named})" if encodings else ""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(
            "AnswerTooLarge",
            f"the answer declares {int(declared) / MIB:,.1f} MiB{shown}, over the limit of {limit / MIB:,.1f} MiB "
            "(MIXPEEK_MAX_ANSWER_BYTES); not read, not retried",
        )
    body = bytearray()
    received = 0

    def too_large() -> _Refused:
        return _Refused(
            "AnswerTooLarge",
            f"the answer passed the limit of {limit / MIB:,.1f} MiB (MIXPEEK_MAX_ANSWER_BYTES): refused after "
            f"{received / MIB:,.1f} MiB received{shown} and {len(body) / MIB:,.1f} MiB decoded, not retried "
            "(the same answer would come again)",
        )

    def raw() -> Iterator[bytes]:
        nonlocal received
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > limit:
                raise too_large()
            yield chunk

    chunks: Iterator[bytes] = raw()
    for encoding in reversed(encodings):  # listed in the order they were applied
        chunks = _inflate(chunks, encoding)
    for piece in chunks:
        if len(body) + len(piece) > limit:
            raise too_large()
        body += piece
    return bytes(body)


def _redirect_target(response: httpx.Response) -> str:
    location = response.headers.get("location")
    if not location:
        return "nowhere (no Location header)"
    try:
        target = str(response.url.join(location))
    except (httpx.InvalidURL, ValueError):
        target = location
    return target if len(target) <= 200 else target[:200] + "..."


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


def _error_of(response: httpx.Response, content: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        text = content[:400].decode(response.encoding or "utf-8", "replace")
        return {"type": None, "message": text[:200] or response.reason_phrase}
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
        timeout_seconds: float = 60.0,  # per read, write and connect
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        request_deadline_seconds: float = DEFAULT_REQUEST_DEADLINE_SECONDS,  # per attempt, everything included
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
        self.max_answer_bytes = max_answer_bytes
        self.request_deadline_seconds = request_deadline_seconds
        self._deadline = _Deadline()
        # Whatever the server sends back passes through these before anything reads it (pipelines/redaction.py).
        self._secrets = (settings.api_key.get_secret_value(),)
        limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
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
            limits=limits,
            follow_redirects=False,  # a redirect would carry the key elsewhere: reported instead
        )
        # httpx's own transports (a transport passed in would make it ignore HTTPS_PROXY and the like).
        for transport in [self._http._transport, *self._http._mounts.values()]:
            _bound(transport, self._deadline)

    def close(self) -> None:
        self._http.close()

    def _clean(self, text: str) -> str:
        """Text from the server or from a library, with the key (and so its Bearer form) redacted."""
        return redact(text, self._secrets)

    def _cause(self, exc: BaseException) -> BaseException | None:
        """The exception to chain, or None when its text quotes the key (Dagster stores the whole chain)."""
        return None if holds_secret(str(exc), self._secrets) else exc

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
        request = f"{method} {path}"
        attempt = 0
        started = time.monotonic()

        def once() -> Any:
            nonlocal attempt
            attempt += 1
            # The retry budget bounds the attempts too: the last one ends with it (given a second at least).
            budget_left = self.retry.max_total_seconds - (time.monotonic() - started)
            deadline = min(self.request_deadline_seconds, max(budget_left, 1.0))
            with self.budget.slot():
                response, answer = self._exchange(method, path, params, content, attempt, deadline)
            if 300 <= response.status_code < 400:
                raise MixpeekApiError(
                    request,
                    status=response.status_code,
                    error_type="Redirect",
                    message=f"the server redirects to {self._clean(_redirect_target(response))}; redirects are "
                    "not followed, "
                    "so the key goes to MIXPEEK_BASE_URL only: set it to the address that answers",
                    attempts=attempt,
                )
            if response.status_code >= 400:
                error = _error_of(response, answer)
                message = self._clean(str(error.get("message") or response.reason_phrase))
                if response.status_code in RETRYABLE_STATUSES:
                    retry_after = _retry_after(response, error)
                    if response.status_code == 429 and retry_after:
                        self.budget.pause(retry_after)
                    raise TransientError(response.status_code, error.get("type"), message, retry_after)
                raise MixpeekApiError(
                    request,
                    status=response.status_code,
                    error_type=error.get("type"),
                    message=message,
                    attempts=attempt,
                    details=error.get("details") if isinstance(error.get("details"), dict) else None,
                )
            try:
                return decode(answer)
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

    def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        content: bytes | None,
        attempt: int,
        deadline: float,
    ) -> tuple[httpx.Response, bytes]:
        """One attempt: the answer and its body, read within `deadline` seconds and `max_answer_bytes`; else a
        MixpeekApiError (no retry can help) or a TransientError (one may)."""
        request = f"{method} {path}"
        retried = attempt > 1
        response: httpx.Response | None = None
        self._deadline.at = time.monotonic() + deadline
        try:
            with self._http.stream(method, path, params=params, content=content) as response:
                # A redirect's body is not read: it is refused whatever it says.
                body = (
                    b"" if 300 <= response.status_code < 400 else _read_body(response, self.max_answer_bytes)
                )
            self.stats.count(response.status_code, retried=retried)
            return response, redact_bytes(body, self._secrets)
        except _Refused as exc:
            assert response is not None  # only a body is refused
            self.stats.count(response.status_code, retried=retried)
            raise MixpeekApiError(
                request, status=response.status_code, error_type=exc.error_type,
                message=self._clean(exc.message), attempts=attempt,
            ) from None  # fmt: skip
        except httpx.LocalProtocolError as exc:
            # Refused by our own HTTP library before anything was sent (a header value it cannot carry): the
            # same request fails the same way every time. Its message quotes the header, which may be the key,
            # so neither the message nor the exception travels on.
            local = type(exc).__name__
        except httpx.ConnectError as exc:
            self.stats.count(None, retried=retried)
            if not self.stats.by_status:
                # Nothing has ever answered: a wrong URL or a server that is not there. Retrying for
                # minutes would only hide that; once the server has answered, a refusal is a restart.
                raise MixpeekApiError(
                    request,
                    status=None,
                    error_type="ConnectError",
                    message=f"cannot connect to {self.settings.base_url} ({self._clean(str(exc)) or 'refused'}): "
                    "check MIXPEEK_BASE_URL",
                    attempts=attempt,
                ) from self._cause(exc)
            name = type(exc).__name__
            raise TransientError(None, name, self._clean(str(exc)) or name) from self._cause(exc)
        except (httpx.TimeoutException, httpx.TransportError, zlib.error) as exc:
            status = response.status_code if response is not None else None
            self.stats.count(status, retried=retried)
            if self._deadline.passed():
                # Slow, not broken: a retry may find the server recovered (the retry budget bounds them all).
                raise TransientError(
                    status,
                    "DeadlineExceeded",
                    f"the answer was not complete within {deadline:g} s (MIXPEEK_REQUEST_DEADLINE_SECONDS)",
                ) from self._cause(exc)
            # A dropped connection, a timeout, a body that does not inflate: the request may be repeated, lists
            # are reads.
            name = "DecodingError" if isinstance(exc, zlib.error) else type(exc).__name__
            raise TransientError(status, name, self._clean(str(exc)) or name) from self._cause(exc)
        finally:
            self._deadline.at = None
        self.stats.count(None, retried=retried)
        raise MixpeekApiError(  # outside the except clause, so the library's error is not even its context
            request,
            status=None,
            error_type=local,
            message="the request could not be sent: a header value holds a character HTTP does not allow "
            "(check MIXPEEK_API_KEY and MIXPEEK_NAMESPACE for stray characters); not retried",
            attempts=attempt,
        )

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
