"""A misbehaving server of our own: a proxy in front of the emulator that rewrites its list answers.

Real APIs, proxies and gateways are not always the well-behaved server the emulator plays. The proxy forwards
every request to an emulator and hands each list answer (its number, the decoded body) to a `Rewrite`, which
returns the bytes to send instead, or None to send the emulator's answer unchanged. Status codes and
headers pass through; a rewritten answer is sent with status 200, as a misbehaving proxy would.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Rewrite = Callable[[int, dict[str, Any]], bytes | None]
LIST_PATH = "/v1/retrievers/interactions/list"


class MisbehavingProxy:
    """Serve it with EmulatorServer (it has the `.app` the server runs)."""

    def __init__(
        self,
        upstream: str,
        rewrite: Rewrite,
        rewrite_request: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.rewrite = rewrite
        self.rewrite_request = rewrite_request  # what the server makes of a list request's body
        self.list_answers = 0
        self._lock = threading.Lock()
        self._upstream = httpx.AsyncClient(base_url=upstream, timeout=60)
        self.app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["GET", "POST", "PUT"])])

    async def _forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        content = await request.body()
        if request.url.path == LIST_PATH and self.rewrite_request is not None and content:
            content = orjson.dumps(self.rewrite_request(orjson.loads(content)))
        answer = await self._upstream.request(
            request.method, request.url.path, params=request.query_params, headers=headers, content=content
        )
        if request.url.path == LIST_PATH and answer.status_code == 200:
            with self._lock:
                self.list_answers += 1
                number = self.list_answers
            rewritten = self.rewrite(number, orjson.loads(answer.content))
            if rewritten is not None:
                return Response(rewritten, status_code=200, media_type="application/json")
        passed = {
            k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")
        }
        return Response(answer.content, status_code=answer.status_code, headers=passed)


def as_sent(_number: int, _body: dict[str, Any]) -> bytes | None:
    return None


def always(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Rewrite:
    return lambda _number, body: orjson.dumps(change(body))


def first(count: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Rewrite:
    """Misbehave on the first `count` list answers, then behave."""
    return lambda number, body: orjson.dumps(change(body)) if number <= count else None


class UnstableTiesServer:
    """A list server without cursors whose order of records sharing a timestamp changes on every request, as
    a search engine sorting on a non-unique key does: offset pages then repeat some records and skip others.
    It answers from an emulator's records (fetched by cursor, in order), shuffling each tie group anew per
    request; serve it with EmulatorServer."""

    def __init__(self, upstream: str, *, seed: int = 13) -> None:
        self.requests = 0
        self._random = random.Random(seed)
        self._upstream = httpx.AsyncClient(base_url=upstream, timeout=60)
        self.app = Starlette(routes=[Route(LIST_PATH, self._list, methods=["POST"])])

    async def _window(self, request: Request, body: dict[str, Any]) -> list[dict[str, Any]]:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "x-namespace")}
        records: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 1000}
        while True:
            answer = await self._upstream.post(LIST_PATH, params=params, headers=headers, json=body)
            answer.raise_for_status()
            page = answer.json()
            records += page["results"]
            if not page["pagination"].get("next_cursor"):
                return records
            params["cursor"] = page["pagination"]["next_cursor"]

    async def _list(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        records = await self._window(request, body)
        self.requests += 1
        self._random.shuffle(records)
        records.sort(key=lambda r: r["timestamp"])  # stable: ties stay in this request's shuffled order
        offset = int(request.query_params.get("offset", 0))
        limit = int(request.query_params.get("limit", 10))
        pagination = {"total": len(records) if request.query_params.get("include_total") == "true" else None,
                      "next_cursor": None}  # fmt: skip
        page = {"results": records[offset : offset + limit], "pagination": pagination}
        return Response(orjson.dumps(page), media_type="application/json")
