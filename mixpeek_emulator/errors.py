"""The Mixpeek error envelope: every failure the emulator answers has this shape (api-notes.md, "Errors")."""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.responses import Response

ERROR_TYPES: dict[int, str] = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    422: "ValidationError",
    429: "TooManyRequestsError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class ApiError(Exception):
    """Raised anywhere inside a request; the app turns it into the envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.code = code
        self.headers = headers or {}


def validation_error(errors: list[dict[str, Any]], message: str | None = None) -> ApiError:
    """422 with details.validation_errors [{type, location, message}]."""
    summary = message or "; ".join(f"{'.'.join(map(str, e['location']))}: {e['message']}" for e in errors)
    return ApiError(422, summary or "Validation failed", details={"validation_errors": errors})


def from_pydantic(exc: ValidationError, prefix: list[str | int], accepted_keys: list[str]) -> ApiError:
    errors: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False):
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            # Since 2026-11-02 the server refuses undeclared keys and names the accepted ones.
            message = f"{message}; accepted keys: {', '.join(accepted_keys)}"
        errors.append({"type": err["type"], "location": [*prefix, *err["loc"]], "message": message})
    return validation_error(errors)


def retry_after_headers(seconds: float) -> dict[str, str]:
    # Retry-After is whole seconds by RFC 9110; the precise figure travels in details.retry_after_seconds.
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def error_body(
    status: int, message: str, details: dict[str, Any] | None = None, code: str | None = None
) -> bytes:
    return orjson.dumps(
        {
            "success": False,
            "status": status,
            "error": {
                "type": ERROR_TYPES.get(status, "Error"),
                "message": message,
                "code": code,
                "details": details,
            },
        }
    )


def error_response(exc: ApiError) -> Response:
    return Response(
        error_body(exc.status, exc.message, exc.details, exc.code),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers,
    )
