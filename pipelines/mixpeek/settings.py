"""Where the client points and with which key (from interactions_etl.settings; never code or logs)."""

from __future__ import annotations

import unicodedata
import warnings
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationInfo, field_validator

DEFAULT_BASE_URL = "https://api.mixpeek.com"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# A full page is 1,000 records of about 1 KB; a record of up to 256 KiB still lands (then is quarantined, see
# landing.DEFAULT_MAX_RECORD_BYTES), and a page of a few such is legal: 64 MiB leaves that 60-fold room, and
# refuses a compressed bomb (a few MB inflating to GiB) long before it costs real memory.
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024
# A page takes well under a second; 120 s leaves room for a slow network and a loaded server, and stops a server
# that trickles its answer (each byte resetting the per-read timeout) from holding a load for good.
DEFAULT_REQUEST_DEADLINE_SECONDS = 120.0


# The values the client sends, by field, with the variable they come from; the retriever id travels in the body.
SENT = {
    "api_key": "MIXPEEK_API_KEY",
    "namespace": "MIXPEEK_NAMESPACE",
    "retriever_id": "MIXPEEK_RETRIEVER_ID",
}
IN_A_HEADER = frozenset({"MIXPEEK_API_KEY", "MIXPEEK_NAMESPACE"})


def sendable(variable: str, value: str) -> str:
    """`value` as the client can send it, or a ValueError that names `variable` and never repeats the value
    (it may be the key). Whitespace and line ends around it are stripped with a warning: `set -a; source .env`
    of a file saved with CRLF line ends leaves a carriage return on every value, which httpx then refuses,
    quoting the header."""
    stripped = value.strip()
    if stripped != value:
        warnings.warn(
            f"{variable} has whitespace or a line end around it (a .env file saved with CRLF line ends?): "
            "stripped",
            stacklevel=4,
        )
    if not stripped:
        raise ValueError(f"{variable} is blank")
    for char in stripped:
        if unicodedata.category(char) == "Cc":  # C0, DEL and C1: never part of a key, an id or a name
            raise ValueError(
                f"{variable} holds a control character (U+{ord(char):04X}), which cannot be sent: set it again "
                "without it"
            )
    if variable in IN_A_HEADER and not stripped.isascii():
        raise ValueError(f"{variable} holds a character that is not ASCII, which an HTTP header cannot carry")
    return stripped


class MixpeekSettings(BaseModel):
    # A refused key must not reach a log as pydantic's `input_value=...`.
    model_config = ConfigDict(hide_input_in_errors=True)

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

    @field_validator("api_key", "namespace", "retriever_id")
    @classmethod
    def _check_sent(cls, value: SecretStr | str | None, info: ValidationInfo) -> SecretStr | str | None:
        variable = SENT[str(info.field_name)]
        if isinstance(value, SecretStr):
            return SecretStr(sendable(variable, value.get_secret_value()))
        return None if value is None else sendable(variable, value)
