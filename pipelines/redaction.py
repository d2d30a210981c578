"""Secrets never leave the process (Dagster-free): one redaction that every outgoing message passes.

A server or proxy may quote the bearer key back (a 401 whose message says "invalid key sk_...", a 500 page
that prints the Authorization header, a record that echoes it), and a library may quote a header it refused.
So the client replaces every secret's exact value in each answer's bytes, its headers and reason phrase and
in every library error before anything reads them (the "Bearer <key>" form included), and the edges that
print or store messages (the CLI's lines and tracebacks, failures raised into Dagster) pass them through the
same function with every secret the settings hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

REDACTED = "[redacted]"
# A secret shorter than this is not searched for: every occurrence of two or three common letters would go.
MIN_SECRET_LENGTH = 6


def _usable(secrets: Iterable[str | None]) -> list[str]:
    # Longest first, so a secret that contains another is replaced whole.
    return sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each secret's exact value replaced by [redacted]."""
    for secret in _usable(secrets):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_bytes(data: bytes, secrets: Iterable[str | None]) -> bytes:
    """The same for bytes (an answer's body), each secret in its UTF-8 form."""
    for secret in _usable(secrets):
        needle = secret.encode()
        if needle in data:
            data = data.replace(needle, REDACTED.encode())
    return data


def holds_secret(text: str, secrets: Iterable[str | None]) -> bool:
    return any(secret in text for secret in _usable(secrets))


class RedactingStream:
    """A text stream (stdout, stderr) that writes everything through `redact`: the CLI's edge, so that no line
    it prints (errors, progress, warnings, tracebacks with --verbose, Dagster's own output) can show a secret.
    Everything else is the wrapped stream's (encoding, isatty, fileno), so click and logging treat it as it."""

    def __init__(self, stream: TextIO, secrets: Iterable[str | None]) -> None:
        self._stream = stream
        self._secrets = _usable(secrets)

    def write(self, text: str) -> int:
        self._stream.write(redact(text, self._secrets))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
