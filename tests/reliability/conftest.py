"""The loader's fixtures (an emulator over HTTP with the test key and namespace) for the reliability suite."""

from tests.pipeline.conftest import make_server, server  # noqa: F401 - pytest finds fixtures by name here
