"""Run the emulator: blocking for the CLI, or in a background thread for tests, the demo and notebooks."""

from __future__ import annotations

import logging
import socket
import threading
import time
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
