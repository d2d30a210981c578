"""Issue 29: a server or proxy that quotes the bearer key back never gets it printed or stored.

A stand-in server in front of the emulator echoes the Authorization header it receives: inside every record
(so a load succeeds with the key in its data), in a 401's JSON message, in a 400's HTML page, in a redirect's
Location. After an `interactions load` against the first three (the failing ones with --verbose, tracebacks
printed) and a request to the fourth, no byte
of stdout, stderr, the warehouse, the analysts' copy, the reports or the Dagster home (its SQLite values read,
compressed snapshots inflated) holds the key or its Bearer form; the records landed with `[redacted]` in its
place, which shows the echo did reach the loader. The key and namespace are set with a trailing carriage return,
as `set -a; source .env` of a file saved with CRLF line ends leaves them: stripped with a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interactions_etl import warehouse
from interactions_etl.mixpeek.client import MixpeekClient
from interactions_etl.mixpeek.errors import MixpeekApiError
from interactions_etl.mixpeek.settings import MixpeekSettings
from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import DAY, NAMESPACE, fill, spread_over_day
from tests.reliability.test_secrets import files_containing

KEY = "sk_live_ECHOED_BACK_3e8b1f0a9c"
LIST_PATH = "/v1/retrievers/interactions/list"


class EchoingServer:
    """Forwards to the emulator and, as `mode` says, quotes the Authorization header back."""

    def __init__(self, upstream: str) -> None:
        self.mode = "records"
        self._upstream = httpx.AsyncClient(base_url=upstream, timeout=60)
        self.app = Starlette(routes=[Route(LIST_PATH, self._list, methods=["POST"])])

    async def _list(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ")
        if self.mode == "401_json":
            error = {"type": "Unauthorized", "message": f"invalid key {key} (you sent '{auth}')"}
            return Response(orjson.dumps({"success": False, "status": 401, "error": error}), status_code=401,
                            media_type="application/json")  # fmt: skip
        if self.mode == "400_html":
            page = f"<html><body><h1>Bad Request</h1><pre>Authorization: {auth}</pre></body></html>"
            return Response(page, status_code=400, media_type="text/html")
        if self.mode == "redirect":
            return Response(
                status_code=308, headers={"location": f"https://elsewhere.invalid/steal?key={key}"}
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "x-namespace")}
        answer = await self._upstream.post(LIST_PATH, params=request.query_params, headers=headers,
                                           content=await request.body())  # fmt: skip
        body: dict[str, Any] = orjson.loads(answer.content)
        for record in body.get("results") or []:
            record["metadata"] = {**(record.get("metadata") or {}), "echo": f"token {key}", "header": auth}
        body.pop("items", None)
        return Response(orjson.dumps(body), status_code=answer.status_code, media_type="application/json")


def test_a_key_the_server_echoes_is_printed_and_stored_nowhere(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server.emulator.config.api_keys = {KEY: None}  # the emulator accepts the key the loader sends
    fill(server, spread_over_day(300))
    echoing = EchoingServer(server.base_url)
    proxy = EmulatorServer(echoing).start()  # type: ignore[arg-type]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MIXPEEK_", "DAGSTER_HOME"))},
        "MIXPEEK_BASE_URL": proxy.base_url,
        "MIXPEEK_API_KEY": KEY + "\r",
        "MIXPEEK_NAMESPACE": NAMESPACE + "\r",
        "MIXPEEK_REQUESTS_PER_SECOND": "500",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "REPORTS_DIR": str(tmp_path / "reports"),
    }
    warehouse_file = tmp_path / "w.duckdb"
    outputs: list[str] = []

    def load(*flags: str) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [sys.executable, "-m", "interactions_etl.cli", *flags, "load", "--start", DAY.isoformat(),
             "--end", DAY.isoformat(), "--warehouse", str(warehouse_file)],
            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        outputs.extend([completed.stdout, completed.stderr])
        return completed

    try:
        landed = load()
        assert landed.returncode == 0, landed.stdout[-2000:] + landed.stderr[-2000:]
        warned = [line for line in landed.stderr.splitlines() if line.startswith("warning: ")]
        assert any(line.startswith("warning: MIXPEEK_API_KEY has whitespace") for line in warned), warned
        assert any(line.startswith("warning: MIXPEEK_NAMESPACE has whitespace") for line in warned), warned
        for mode, says in [("401_json", "HTTP 401"), ("400_html", "HTTP 400")]:
            echoing.mode = mode
            failed = load("--verbose")
            assert failed.returncode != 0 and says in failed.stderr, (mode, failed.stderr[-2000:])
            assert "[redacted]" in failed.stderr, (
                mode,
                failed.stderr[-2000:],
            )  # the echo reached the message
        echoing.mode = "redirect"  # through the client alone: the CLI's edge is the same for every message
        settings = MixpeekSettings(base_url=proxy.base_url, api_key=SecretStr(KEY), namespace=NAMESPACE)
        with MixpeekClient(settings) as client, pytest.raises(MixpeekApiError) as redirected:
            client.list_interactions({}, limit=10)
        assert "steal?key=[redacted]" in str(redirected.value) and KEY not in str(redirected.value)
    finally:
        proxy.stop()
    con = warehouse.connect(warehouse_file, read_only=True)
    try:
        echoes = con.execute(
            "SELECT DISTINCT metadata->>'$.echo', metadata->>'$.header' FROM raw.interactions"
        ).fetchall()
    finally:
        con.close()
    assert echoes == [("token [redacted]", "Bearer [redacted]")]
    for text in outputs:
        assert KEY not in text
    assert (tmp_path / "reports" / "latest.html").exists()
    assert any(p.suffix == ".db" for p in (tmp_path / "dagster_home").rglob("*")), (
        "Dagster kept nothing on disk"
    )
    assert files_containing(tmp_path, KEY.encode()) == []  # warehouse, copy, reports, Dagster's storage
