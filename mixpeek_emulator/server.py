"""Run the emulator: blocking for the CLI, or in a background thread for tests, the demo and notebooks."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import uvicorn

from mixpeek_emulator.app import ConnectionDropped, Emulator


class _HideInjectedDrops(logging.Filter):
    """A dropped connection is an injected fault, not an emulator bug: keep it out of the error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def _uvicorn_config(emulator: Emulator, log_level: str, access_log: bool) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())
    return uvicorn.Config(
        emulator.app,
        log_level=log_level,
        access_log=access_log,  # uvicorn's access log prints method, path and status only: never headers
        lifespan="off",
        http="httptools",
        timeout_keep_alive=30,
    )


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(
    emulator: Emulator, host: str, port: int, *, log_level: str = "info", access_log: bool = True
) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server = uvicorn.Server(_uvicorn_config(emulator, log_level, access_log))
    server.run(sockets=[bind(host, port)])


class EmulatorServer:
    """The emulator on a loopback port in a background thread.

    >>> with EmulatorServer(emulator) as server:
    ...     httpx.post(server.base_url + "/v1/retrievers/interactions/list", ...)
    """

    def __init__(
        self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self.emulator = emulator
        self.host = host
        self._socket = bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(emulator, log_level, access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def spawn(
    arguments: Sequence[str], *, port: int, api_key: str, timeout: float = 1800.0, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    """`mixpeek-emulator serve --port PORT ARGUMENTS` in a process of its own (benchmarks: the client under
    test then does not share its GIL), accepting `api_key`; returns once it answers its health route, which is
    after any pre-fill. Raises RuntimeError when it exits first or `timeout` passes."""
    import httpx

    command = [sys.executable, "-m", "mixpeek_emulator", "serve", "--port", str(port), *arguments]
    process = subprocess.Popen(command, env={**os.environ, "MIXPEEK_EMULATOR_API_KEYS": api_key}, cwd=cwd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"the emulator did not answer within {timeout:.0f} s")
