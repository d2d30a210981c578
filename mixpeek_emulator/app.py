"""The emulator's HTTP surface: the interactions endpoints of Mixpeek API 0.82, plus `/_emulator/*` controls.

Kept free of Dagster and of the project's client so it can be read, run and tested on its own. Handlers are
`async def` and never await while touching the store, so the single event loop serialises all state changes
without locks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mixpeek_emulator.errors import (
    ApiError,
    error_response,
    from_pydantic,
    retry_after_headers,
    validation_error,
)
from mixpeek_emulator.faults import FaultConfig, FaultInjector
from mixpeek_emulator.filters import FilterError, compile_list_query
from mixpeek_emulator.ratelimit import RateLimit, RateLimiter
from mixpeek_emulator.records import format_instant, now_micros, to_micros
from mixpeek_emulator.schemas import (
    BulkInteractionsIn,
    ListInteractionsIn,
    PublicInteractionBatchIn,
    PublicInteractionIn,
    SearchInteractionIn,
    accepted_keys,
)
from mixpeek_emulator.store import Cursor, CursorError, NamespaceStore, SortSpec, query_fingerprint

log = logging.getLogger("interactions.emulator")
ModelT = TypeVar("ModelT", bound=BaseModel)

API_VERSION = "0.82"
DEFAULT_PAGE_SIZE = 10  # undocumented for this route (api-notes.md): 10 like the other list routes
MAX_PAGE_SIZE = 1000
MAX_OFFSET = 10_000

# metadata.reward_value: the service derives it from the retriever's reward_map; this is the emulator's default
# map (a sum over the record's types), documented in docs/emulator.md.
REWARD_MAP: dict[str, float] = {
    "impression": 0.0,
    "view": 0.1,
    "click": 1.0,
    "dwell": 0.5,
    "long_view": 1.5,
    "positive_feedback": 2.0,
    "negative_feedback": -1.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "wishlist": 1.0,
    "share": 1.5,
    "bookmark": 1.0,
    "save": 1.0,
    "add_to_project": 1.5,
    "play": 1.0,
    "download": 2.0,
    "rating": 1.0,
    "skip": -0.5,
    "return_to_results": -0.5,
    "query_refinement": 0.0,
    "zero_results": 0.0,
    "filter_toggle": 0.0,
}


def reward_value(interaction_types: list[str]) -> float:
    return round(sum(REWARD_MAP.get(t, 0.0) for t in interaction_types), 4)


MISSING_FEATURE_URI_WARNING = (
    "feature_uri is missing: this interaction will not contribute to learned fusion weights"
)


def namespace_id_for(name: str) -> str:
    """A namespace is addressed by id or name; an emulator namespace's id derives from its name."""
    if name.startswith("ns_"):
        return name
    return "ns_" + hashlib.blake2b(name.encode(), digest_size=6).hexdigest()


@dataclass(frozen=True)
class PublicRetriever:
    """A published retriever: the public track routes write into its namespace under its retriever_id."""

    namespace: str
    retriever_id: str
    public_api_key: str | None = None


@dataclass
class EmulatorConfig:
    # API key -> the namespaces it may use (None = every namespace). Never logged.
    api_keys: dict[str, frozenset[str] | None]
    namespaces: list[str] = field(default_factory=lambda: ["demo"])
    auto_create_namespaces: bool = False
    rate_limit: RateLimit | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    public_retrievers: dict[str, PublicRetriever] = field(default_factory=dict)
    # False emulates an older server: no next_cursor, the cursor parameter ignored, so clients must page by offset.
    cursor_pagination: bool = True
    clock: Callable[[], int] = now_micros  # epoch microseconds; tests pass a fake one for dedup

    def __repr__(self) -> str:  # keep keys out of any log or traceback that prints the config
        return (
            f"EmulatorConfig(api_keys=<{len(self.api_keys)} hidden>, namespaces={self.namespaces!r}, "
            f"rate_limit={self.rate_limit!r})"
        )


@dataclass
class EmulatorStats:
    requests: int = 0
    by_route: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    list_requests: int = 0
    records_served: int = 0
    max_offset_requested: int = 0
    max_page_size_requested: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_route": dict(self.by_route),
            "by_status": dict(self.by_status),
            "list_requests": self.list_requests,
            "records_served": self.records_served,
            "max_offset_requested": self.max_offset_requested,
            "max_page_size_requested": self.max_page_size_requested,
        }


class ConnectionDropped(Exception):
    """Raised after part of a body went out: uvicorn then closes the connection mid-body."""


class _DroppedResponse(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: max(1, len(self.body) // 2)],
                "more_body": True,
            }
        )
        raise ConnectionDropped()


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


class Emulator:
    """State (namespaces, limiter, faults, stats) and the Starlette app that serves it."""

    def __init__(self, config: EmulatorConfig) -> None:
        if not config.api_keys:
            raise ValueError("the emulator needs at least one API key")
        self.config = config
        self.stores: dict[str, NamespaceStore] = {}
        for name in config.namespaces:
            self.add_namespace(name)
        self.limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        self.faults = FaultInjector(config.faults)
        self.stats = EmulatorStats()
        self.app = Starlette(routes=self._routes())

    # -- namespaces -----------------------------------------------------------------------------------------

    def add_namespace(self, name: str) -> NamespaceStore:
        ns_id = namespace_id_for(name)
        store = self.stores.get(ns_id)
        if store is None:
            store = self.stores[ns_id] = NamespaceStore(namespace_id=ns_id, name=name)
        return store

    def namespace(self, name_or_id: str) -> NamespaceStore | None:
        store = self.stores.get(name_or_id) or self.stores.get(namespace_id_for(name_or_id))
        if store is None and self.config.auto_create_namespaces:
            store = self.add_namespace(name_or_id)
        return store

    # -- routing ---------------------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        private = self._private
        return [
            Route("/v1/retrievers/interactions", private(self.create, "create"), methods=["POST"]),
            Route("/v1/retrievers/interactions/batch", private(self.create_batch, "batch"), methods=["POST"]),
            Route("/v1/retrievers/interactions/list", private(self.list, "list"), methods=["POST"]),
            Route("/v1/retrievers/interactions/{interaction_id}", private(self.get, "get"), methods=["GET"]),
            Route(
                "/v1/retrievers/interactions/{interaction_id}",
                private(self.delete, "delete"),
                methods=["DELETE"],
            ),
            Route("/v1/public/retrievers/{public_name}/interactions", self._public(False), methods=["POST"]),
            Route(
                "/v1/public/retrievers/{public_name}/interactions/batch", self._public(True), methods=["POST"]
            ),
            Route("/_emulator/health", self.health, methods=["GET"]),
            Route("/_emulator/stats", self._admin(self.get_stats), methods=["GET"]),
            Route("/_emulator/faults", self._admin(self.get_faults), methods=["GET"]),
            Route("/_emulator/faults", self._admin(self.put_faults), methods=["PUT"]),
        ]

    def _count(self, route: str, status: int) -> None:
        s = self.stats
        s.requests += 1
        s.by_route[route] = s.by_route.get(route, 0) + 1
        s.by_status[str(status)] = s.by_status.get(str(status), 0) + 1

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(401, "Missing or malformed Authorization header: expected 'Bearer <api key>'")
        if key not in self.config.api_keys:
            raise ApiError(401, "Invalid API key")
        return key

    def _resolve_namespace(self, request: Request, key: str) -> NamespaceStore:
        name = request.headers.get("x-namespace", "").strip()
        if not name:
            raise ApiError(400, "The X-Namespace header is required (a namespace id or name)")
        store = self.namespace(name)
        if store is None:
            raise ApiError(404, "Namespace not found", details={"resource": "namespace", "id": name})
        allowed = self.config.api_keys[key]
        if allowed is not None and store.name not in allowed and store.namespace_id not in allowed:
            raise ApiError(403, "This API key has no access to the namespace", details={"id": name})
        return store

    def _private(
        self, handler: Callable[[Request, NamespaceStore], Awaitable[Response]], route: str
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            key: str | None = None
            acquired = False
            try:
                key = self._authenticate(request)
                if self.limiter is not None:
                    self.limiter.acquire(key)
                    acquired = True
                delay = self.faults.latency_seconds()
                if delay:
                    await asyncio.sleep(delay)
                self._inject_request_fault(route == "list")
                store = self._resolve_namespace(request, key)
                response = await handler(request, store)
            except ApiError as exc:
                response = error_response(exc)
            except ClientDisconnect:
                # The client gave up (its timeout) before sending the whole body: nobody is left to answer.
                response = Response(status_code=499)
            except Exception:  # a bug in the emulator still answers with the envelope
                log.exception("unhandled error on %s", route)
                response = error_response(ApiError(500, "Internal server error"))
            finally:
                if acquired and key is not None and self.limiter is not None:
                    self.limiter.release(key)
            if key is not None and self.limiter is not None:
                for name, value in self.limiter.headers(key).items():
                    response.headers.setdefault(name, value)
            self._count(route, response.status_code)
            return response

        return endpoint

    def _inject_request_fault(self, is_list: bool) -> None:
        fault = self.faults.request_fault(is_list)
        if fault is None:
            return
        wait = self.faults.config.retry_after_seconds
        if fault == "429":
            raise ApiError(
                429,
                "Rate limit exceeded",
                details={"retry_after_seconds": wait},
                headers=retry_after_headers(wait),
            )
        if fault == "503":
            raise ApiError(
                503,
                "Service temporarily unavailable",
                details={"retryable": True, "retry_after_seconds": wait},
                headers=retry_after_headers(wait),
            )
        raise ApiError(500, "Internal server error")

    def _admin(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                self._authenticate(request)
                return await handler(request)
            except ApiError as exc:
                return error_response(exc)

        return endpoint

    # -- request helpers --------------------------------------------------------------------------------------

    @staticmethod
    async def _body(request: Request, *, optional: bool = False) -> Any:
        raw = await request.body()
        if not raw.strip():
            if optional:
                return None
            raise ApiError(
                422,
                "A JSON body is required",
                details={
                    "validation_errors": [
                        {"type": "missing", "location": ["body"], "message": "Field required"}
                    ]
                },
            )
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(
                422,
                f"The body is not valid JSON: {exc}",
                details={
                    "validation_errors": [{"type": "json_invalid", "location": ["body"], "message": str(exc)}]
                },
            ) from exc

    @staticmethod
    def _validate(model: type[ModelT], payload: Any) -> ModelT:
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise from_pydantic(exc, ["body"], accepted_keys(model)) from exc

    def _record(self, fields: dict[str, Any], now_us: int) -> dict[str, Any]:
        """The stored form of a validated interaction: server-stamped, enriched, every field present."""
        occurred = fields.get("occurred_at")
        occurred_text = None
        if occurred is not None:
            occurred_text = format_instant(min(to_micros(occurred), now_us))  # naive = UTC; future -> now
        types = [str(t) for t in fields["interaction_type"]]
        metadata = dict(fields.get("metadata") or {})
        metadata["reward_value"] = reward_value(types)
        return {
            "feature_id": fields["feature_id"],
            "interaction_type": types,
            "position": fields["position"],
            "metadata": metadata,
            "user_id": fields.get("user_id"),
            "session_id": fields.get("session_id"),
            "execution_id": fields.get("execution_id"),
            "retriever_id": fields.get("retriever_id"),
            "query_snapshot": fields.get("query_snapshot"),
            "document_score": fields.get("document_score"),
            "result_set_size": fields.get("result_set_size"),
            "feature_uri": fields.get("feature_uri"),
            "occurred_at": occurred_text,
            "interaction_id": "int_" + uuid.uuid4().hex[:24],
            "deduplicated": False,
            "timestamp": format_instant(now_us),
            "warning": None if fields.get("feature_uri") else MISSING_FEATURE_URI_WARNING,
        }

    def _write(self, store: NamespaceStore, fields: dict[str, Any], *, dedup: bool) -> dict[str, Any]:
        now_us = self.config.clock()
        data = self._record(fields, now_us)
        if dedup and data["execution_id"] is not None:
            key = (data["execution_id"], data["feature_id"], tuple(sorted(data["interaction_type"])))
            if store.is_duplicate(key, now_us):
                return {**data, "interaction_id": None, "deduplicated": True}
        store.insert(data)
        return data

    # -- private routes -----------------------------------------------------------------------------------------

    async def create(self, request: Request, store: NamespaceStore) -> Response:
        interaction = self._validate(SearchInteractionIn, await self._body(request))
        return _json(self._write(store, interaction.model_dump(), dedup=True))

    async def create_batch(self, request: Request, store: NamespaceStore) -> Response:
        batch = self._validate(BulkInteractionsIn, await self._body(request))
        results = []
        for index, interaction in enumerate(batch.interactions):
            data = self._write(store, interaction.model_dump(), dedup=False)  # bulk writes skip dedup
            results.append({"index": index, "interaction_id": data["interaction_id"], "status": "created"})
        return _json({"created": len(results), "failed": 0, "errors": [], "results": results})

    async def get(self, request: Request, store: NamespaceStore) -> Response:
        interaction_id = request.path_params["interaction_id"]
        record = store.get(interaction_id)
        if record is None:
            raise ApiError(
                404, "Interaction not found", details={"resource": "interaction", "id": interaction_id}
            )
        return Response(record.blob, media_type="application/json")

    async def delete(self, request: Request, store: NamespaceStore) -> Response:
        interaction_id = request.path_params["interaction_id"]
        deleted = store.delete(interaction_id)  # idempotent: a second delete also succeeds
        return _json({"success": True, "interaction_id": interaction_id, "deleted": deleted})

    async def list(self, request: Request, store: NamespaceStore) -> Response:
        params = _ListParams.parse(request)
        payload = await self._body(request, optional=True)
        body = self._validate(ListInteractionsIn, payload if payload is not None else {})
        body_dict = body.model_dump(exclude={"include_total"})
        try:
            query = compile_list_query(body_dict)
        except FilterError as exc:
            raise ApiError(
                422,
                exc.message,
                details={
                    "validation_errors": [
                        {"type": exc.error_type, "location": exc.location, "message": exc.message}
                    ]
                },
            ) from exc
        sort = SortSpec(body.sort.field, body.sort.direction == "desc") if body.sort else SortSpec()
        fingerprint = query_fingerprint(body_dict)
        cursor = None
        if params.cursor is not None and self.config.cursor_pagination:
            cursor = _decode_cursor(params.cursor, sort, fingerprint)

        stats = self.stats
        stats.list_requests += 1
        stats.max_offset_requested = max(stats.max_offset_requested, params.offset)
        stats.max_page_size_requested = max(stats.max_page_size_requested, params.limit)

        include_total = params.include_total or bool(body.include_total)
        page = store.list(
            query,
            sort,
            limit=params.limit,
            offset=params.offset,
            cursor=cursor,
            include_total=include_total,
            fingerprint=fingerprint,
        )
        blobs = [r.blob for r in page.records]
        stats.records_served += len(blobs)
        fault = self.faults.body_fault()
        if fault == "malformed" and blobs:
            victim = len(blobs) // 2
            _, broken = self.faults.malformation(page.records[victim].data)
            blobs[victim] = orjson.dumps(broken)
        elif fault == "duplicate" and blobs:
            blobs.append(blobs[-1])  # the same record twice, as a page boundary race would show it
        pagination = {
            "total": page.total,
            "page": page.page,
            "page_size": params.limit,
            "total_pages": None if page.total is None else -(-page.total // params.limit),
            "next_page": None,
            "previous_page": None,
            "next_cursor": page.next_cursor if self.config.cursor_pagination else None,
        }
        joined = b",".join(blobs)
        body_bytes = (
            b'{"results":['
            + joined
            + b'],"items":['
            + joined
            + b'],"pagination":'
            + orjson.dumps(pagination)
            + b"}"
        )
        if fault == "drop":
            return _DroppedResponse(body_bytes, media_type="application/json")
        if fault == "truncate":
            return Response(body_bytes[: max(1, len(body_bytes) // 2)], media_type="application/json")
        return Response(body_bytes, media_type="application/json")

    # -- public routes -------------------------------------------------------------------------------------------

    def _public(self, batch: bool) -> Callable[[Request], Awaitable[Response]]:
        route = "public_batch" if batch else "public"

        async def endpoint(request: Request) -> Response:
            try:
                response = await self._track(request, batch)
            except ApiError as exc:
                response = error_response(exc)
            self._count(route, response.status_code)
            return response

        return endpoint

    async def _track(self, request: Request, batch: bool) -> Response:
        name = request.path_params["public_name"]
        published = self.config.public_retrievers.get(name)
        if published is None:
            raise ApiError(404, "Retriever not found", details={"resource": "retriever", "id": name})
        if (
            published.public_api_key is not None
            and request.headers.get("x-public-api-key") != published.public_api_key
        ):
            raise ApiError(401, "Invalid or missing X-Public-API-Key")
        store = self.namespace(published.namespace)
        if store is None:
            raise ApiError(
                404, "Namespace not found", details={"resource": "namespace", "id": published.namespace}
            )
        payload = await self._body(request)
        if batch:
            items = self._validate(PublicInteractionBatchIn, payload).interactions
        else:
            items = [self._validate(PublicInteractionIn, payload)]
        header_session = request.headers.get("x-session-id")
        for item in items:
            fields = item.model_dump()
            fields["feature_id"] = fields.pop("document_id")
            fields["retriever_id"] = published.retriever_id
            fields["session_id"] = fields.get("session_id") or header_session
            self._write(store, fields, dedup=True)
        return _json({})

    # -- controls -------------------------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return _json(
            {
                "status": "ok",
                "api_version": API_VERSION,
                "namespaces": {s.name: len(s) for s in self.stores.values()},
            }
        )

    async def get_stats(self, request: Request) -> Response:
        return _json({**self.stats.to_dict(), "faults_injected": dict(self.faults.injected)})

    async def get_faults(self, request: Request) -> Response:
        return _json(self.faults.config.to_dict())

    async def put_faults(self, request: Request) -> Response:
        payload = await self._body(request)
        try:
            config = FaultConfig(**payload)
            self.faults.configure(config)
        except (TypeError, ValueError) as exc:
            raise ApiError(422, f"Invalid fault configuration: {exc}") from exc
        return _json(config.to_dict())


@dataclass
class _ListParams:
    limit: int
    offset: int
    cursor: str | None
    include_total: bool

    @staticmethod
    def parse(request: Request) -> _ListParams:
        q = request.query_params
        errors: list[dict[str, Any]] = []

        def integer(name: str, low: int, high: int | None) -> int | None:
            raw = q.get(name)
            if raw is None or raw == "":
                return None
            try:
                value = int(raw)
            except ValueError:
                errors.append(
                    {
                        "type": "int_parsing",
                        "location": ["query", name],
                        "message": "Input should be a valid integer",
                    }
                )
                return None
            if value < low or (high is not None and value > high):
                bound = f">= {low}" if value < low else f"<= {high}"
                errors.append(
                    {"type": "range", "location": ["query", name], "message": f"Input should be {bound}"}
                )
                return None
            return value

        limit = integer("limit", 1, MAX_PAGE_SIZE)
        page_size = integer("page_size", 1, MAX_PAGE_SIZE)
        offset = integer("offset", 0, MAX_OFFSET)
        page = integer("page", 1, None)
        include_raw = (q.get("include_total") or "false").lower()
        if include_raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            errors.append(
                {
                    "type": "bool_parsing",
                    "location": ["query", "include_total"],
                    "message": "Input should be a valid boolean",
                }
            )
        size = limit or page_size or DEFAULT_PAGE_SIZE  # limit wins over its alias page_size
        if offset is None and page is not None:
            offset = (page - 1) * size  # page folds to offset; offset wins when both are given
            if offset > MAX_OFFSET:
                errors.append(
                    {
                        "type": "range",
                        "location": ["query", "page"],
                        "message": f"page {page} reaches past offset {MAX_OFFSET}",
                    }
                )
        if errors:
            raise validation_error(errors)
        cursor = q.get("cursor") or q.get("next_cursor") or q.get("after")  # cursor wins over its aliases
        return _ListParams(
            limit=size,
            offset=offset or 0,
            cursor=cursor,
            include_total=include_raw in ("true", "1", "yes", "on"),
        )


def _decode_cursor(token: str, sort: SortSpec, fingerprint: str) -> Cursor:
    def invalid(message: str) -> ApiError:
        return ApiError(
            422,
            message,
            details={
                "validation_errors": [
                    {"type": "cursor_invalid", "location": ["query", "cursor"], "message": message}
                ]
            },
        )

    try:
        cursor = Cursor.decode(token)
    except CursorError as exc:
        raise invalid(str(exc)) from exc
    if cursor.sort_field != sort.field or cursor.descending != sort.descending:
        raise invalid("cursor was issued for another sort order")
    if cursor.query_fingerprint != fingerprint:
        raise invalid("cursor was issued for another query (filters changed between pages)")
    return cursor
