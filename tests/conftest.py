"""Shared fixtures: real emulators on loopback ports, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipelines.emulator.app import Emulator, EmulatorConfig
from pipelines.emulator.server import EmulatorServer

StartEmulator = Callable[..., EmulatorServer]


@pytest.fixture
def start_emulator() -> Iterator[StartEmulator]:
    """`start_emulator(api_keys=..., namespaces=..., **config)`: an EmulatorServer already listening."""
    servers: list[EmulatorServer] = []

    def start(**settings: Any) -> EmulatorServer:
        server = EmulatorServer(Emulator(EmulatorConfig(**settings))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
