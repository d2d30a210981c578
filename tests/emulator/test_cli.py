"""The `interactions` command: a pre-filled emulator in its own process, and `generate`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SECRET = "sk_cli_test_never_logged_7c1f"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_emulator_command_prefills_serves_and_never_logs_the_key(tmp_path: Path) -> None:
    port = free_port()
    truth = tmp_path / "truth.json"
    command = [sys.executable, "-m", "mixpeek_emulator", "serve", "--port", str(port), "--seed", "7", "--days", "2",
               "--per-day", "3000", "--start", "2026-10-01", "--namespace", "demo", "--rate-limit", "pro",
               "--ground-truth", str(truth), "--log-level", "debug"]  # fmt: skip
    env = {**os.environ, "MIXPEEK_API_KEY": SECRET}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(base + "/_emulator/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "the emulator did not start"
                time.sleep(0.2)
        stored = health["namespaces"]["demo"]
        assert stored >= 6000
        headers = {"Authorization": f"Bearer {SECRET}", "X-Namespace": "demo"}
        page = httpx.post(
            base + "/v1/retrievers/interactions/list?include_total=true&limit=5", headers=headers
        ).json()
        assert page["pagination"]["total"] == stored and len(page["results"]) == 5
        assert page["results"][0]["metadata"]["reward_value"] is not None
        bad = httpx.post(
            base + "/v1/retrievers/interactions/list", headers={**headers, "Authorization": "Bearer nope"}
        )
        assert bad.status_code == 401
        public = httpx.post(
            base + "/v1/public/retrievers/product-search-v1/interactions",
            json={
                "document_id": "prod_00001",
                "interaction_type": ["click"],
                "position": 0,
                "execution_id": "e",
            },
        )
        assert public.status_code == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "POST /v1/retrievers/interactions/list" in output  # the access log ran
    assert SECRET not in output
    assert json.loads(truth.read_text())["counts"]["records"] == stored


def test_generate_writes_jsonl_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "traffic.jsonl", tmp_path / "truth.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mixpeek_emulator",
            "generate",
            "--days",
            "1",
            "--per-day",
            "2000",
            "--start",
            "2026-10-01",
            "--out",
            str(out),
            "--truth",
            str(truth),
        ],
        check=True,
        capture_output=True,
    )
    lines = out.read_text().splitlines()
    assert len(lines) == json.loads(truth.read_text())["counts"]["records"] >= 2000
    assert json.loads(lines[0])["interaction_id"].startswith("int_")
