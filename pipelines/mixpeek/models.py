"""Models of what the list route answers, decoded with msgspec.

Why msgspec and not pydantic here (pydantic still models settings and Dagster config): a list page carries each
record twice (`results` and its deprecated alias `items`). msgspec decodes straight from bytes into typed
structs, validates in the same pass and skips what it is not asked for without building objects. Measured on a
1000-record page: 1.8 ms, against 9.7 ms for pydantic's validate_json and 17 ms for orjson + pydantic; it is
the difference between a loader bound by Python and one bound by the server.

Lenient on purpose where a client must be (api-notes.md): a record with fields this code does not know is still
landed (the unknown fields go to the `extra` column), and an interaction type newer than this code is kept as a
string and counted, never a crash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

# API 0.82's InteractionType enum; anything else is "unknown" but still landed.
KNOWN_INTERACTION_TYPES: frozenset[str] = frozenset(
    {
        "impression", "view", "click", "dwell", "positive_feedback", "negative_feedback", "purchase",
        "add_to_cart", "wishlist", "long_view", "share", "bookmark", "query_refinement", "zero_results",
        "filter_toggle", "skip", "return_to_results", "play", "download", "save", "add_to_project", "rating",
    }
)  # fmt: skip

JSON_NULL = msgspec.Raw(b"null")
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]  # the warehouse's INTEGER columns


class Interaction(msgspec.Struct, forbid_unknown_fields=True):
    """One stored interaction (InteractionResponse, API 0.82). A record that fails this is quarantined.

    `forbid_unknown_fields` only selects the fast path: a record with new fields is decoded again leniently
    (see `landing.validate_record`) and its extra fields are kept.
    """

    interaction_id: NonEmpty
    feature_id: str
    interaction_type: Annotated[list[str], msgspec.Meta(min_length=1)]
    position: NonNegative
    timestamp: datetime
    metadata: msgspec.Raw = JSON_NULL  # kept as JSON text for the warehouse's JSON column
    user_id: str | None = None
    session_id: str | None = None
    execution_id: str | None = None
    retriever_id: str | None = None
    query_snapshot: msgspec.Raw = JSON_NULL
    document_score: float | None = None
    result_set_size: NonNegative | None = None
    feature_uri: str | None = None
    occurred_at: datetime | None = None
    deduplicated: bool | None = None
    warning: str | None = None


INTERACTION_FIELDS: frozenset[str] = frozenset(Interaction.__struct_fields__)


class Pagination(msgspec.Struct):
    """The two pagination fields the loader reads. The others (page, page_size, total_pages, next_page, ...)
    are not declared, so whatever a server puts there (strings, nulls, new fields) never fails a load."""

    total: int | None = None
    next_cursor: str | None = None


class ListPage(msgspec.Struct):
    """One list answer. Records stay raw JSON: each is validated on its own, so one bad record is quarantined
    with its bytes instead of failing the page."""

    pagination: Pagination | None = None
    results: list[msgspec.Raw] | None = None
    items: list[msgspec.Raw] | None = None  # the deprecated alias; read only when `results` is absent
    # An error envelope ({"success": false, "error": {...}}) sent with status 200 by a proxy or a gateway.
    success: Any = None
    error: Any = None

    def __post_init__(self) -> None:
        if self.pagination is None:
            self.pagination = Pagination()

    def problem(self) -> str | None:
        """Why this answer is no page of records, or None: a body without a list of results is an invalid
        answer, never an empty page (read as empty, it would wipe the day)."""
        if self.error is not None or self.success is False:
            error = self.error if isinstance(self.error, dict) else {"message": self.error}
            return (
                f"an error envelope under HTTP 200: {error.get('type') or 'error'}: "
                f"{str(error.get('message'))[:300]}"
            )
        if self.results is None and self.items is None:
            return "an answer without a list of results (`results` missing or null)"
        return None

    @property
    def records(self) -> list[msgspec.Raw]:
        if self.results is not None:
            return self.results
        return self.items or []


LIST_PAGE_DECODER = msgspec.json.Decoder(ListPage)
INTERACTION_DECODER = msgspec.json.Decoder(Interaction)
