"""Errors the client raises. They name the request, the status, the error type and message: never the key."""

from __future__ import annotations

from typing import Any


class MixpeekApiError(Exception):
    def __init__(
        self,
        request: str,
        *,
        status: int | None,
        error_type: str | None,
        message: str,
        attempts: int = 1,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.status = status
        self.error_type = error_type
        self.message = message
        self.attempts = attempts
        self.details = details
        status_text = f"HTTP {status}" if status is not None else "no HTTP answer"
        super().__init__(
            f"{request} failed after {attempts} attempt(s): {status_text} {error_type or ''}: {message}".replace(
                "  ", " "
            )
        )


class TransientError(Exception):
    """A failure worth retrying: 429, 5xx, a dropped connection, a truncated body."""

    def __init__(
        self, status: int | None, error_type: str | None, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.retry_after = retry_after
