"""The reliability suite's fixtures: the loader's emulator over HTTP with the test key and namespace, and a
misbehaving proxy of our own in front of it."""

from collections.abc import Callable, Iterator

import pytest

from mixpeek_emulator.server import EmulatorServer
from tests.pipeline.conftest import fill, make_server, server, spread_over_day  # noqa: F401 - pytest finds fixtures by name here
from tests.reliability.misbehaving import MisbehavingProxy, Rewrite

RECORDS = 2500  # the misbehaving server's day: three pages of 1000


@pytest.fixture
def proxied(server: EmulatorServer) -> Iterator[Callable[[Rewrite], EmulatorServer]]:  # noqa: F811
    """`proxied(rewrite)`: a misbehaving proxy in front of the test emulator, which holds RECORDS on DAY."""
    fill(server, spread_over_day(RECORDS))
    started: list[EmulatorServer] = []

    def start(rewrite: Rewrite, rewrite_request: Callable[[dict], dict] | None = None) -> EmulatorServer:
        proxy = MisbehavingProxy(server.base_url, rewrite, rewrite_request)
        proxy_server = EmulatorServer(proxy).start()  # type: ignore[arg-type]
        started.append(proxy_server)
        return proxy_server

    yield start
    for proxy_server in started:
        proxy_server.stop()
