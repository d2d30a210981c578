"""Where the client points and with which key (from interactions_etl.settings; never code or logs)."""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, field_validator

DEFAULT_BASE_URL = "https://api.mixpeek.com"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class MixpeekSettings(BaseModel):
    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr  # SecretStr prints as '**********' in reprs, logs and tracebacks
    namespace: str
    retriever_id: str | None = None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"MIXPEEK_BASE_URL must be an http(s) URL, got {value!r}")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            warnings.warn(
                f"MIXPEEK_BASE_URL {parts.scheme}://{parts.hostname} is not TLS: the API key would cross the "
                "network in clear text",
                stacklevel=2,
            )
        return value.rstrip("/")
