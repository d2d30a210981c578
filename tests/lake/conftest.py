"""The lake tests share the pipeline tests' emulator fixtures."""

from tests.pipeline.conftest import make_server, server  # noqa: F401 - fixtures
