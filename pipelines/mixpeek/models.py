"""Models of what the API answers, lenient on purpose: a client must keep what it does not know.

Unknown fields are kept (extra="allow") and land in the warehouse's `extra` column; an interaction type newer
than this code is kept as a string and counted, never a crash (api-notes.md: "a client must keep an unknown value").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# API 0.82's InteractionType enum; anything else is "unknown" but still landed.
KNOWN_INTERACTION_TYPES: frozenset[str] = frozenset(
    {
        "impression", "view", "click", "dwell", "positive_feedback", "negative_feedback", "purchase",
        "add_to_cart", "wishlist", "long_view", "share", "bookmark", "query_refinement", "zero_results",
        "filter_toggle", "skip", "return_to_results", "play", "download", "save", "add_to_project", "rating",
    }
)  # fmt: skip


class Interaction(BaseModel):
    """One stored interaction (InteractionResponse). Validation failures send the record to quarantine."""

    model_config = ConfigDict(extra="allow")

    interaction_id: str = Field(min_length=1)
    feature_id: str
    interaction_type: list[str] = Field(min_length=1)
    position: int = Field(ge=0)
    timestamp: datetime
    metadata: dict[str, Any] | None = None
    user_id: str | None = None
    session_id: str | None = None
    execution_id: str | None = None
    retriever_id: str | None = None
    query_snapshot: dict[str, Any] | None = None
    document_score: float | None = None
    result_set_size: int | None = Field(default=None, ge=0)
    feature_uri: str | None = None
    occurred_at: datetime | None = None
    deduplicated: bool | None = None
    warning: str | None = None

    @field_validator("interaction_type")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]

    @field_validator("timestamp", "occurred_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # the API's rule: naive means UTC
        return value

    def unknown_types(self) -> list[str]:
        return [t for t in self.interaction_type if t not in KNOWN_INTERACTION_TYPES]


class Pagination(BaseModel):
    model_config = ConfigDict(extra="allow")

    total: int | None = None
    page: int | None = None
    page_size: int | None = None
    total_pages: int | None = None
    next_page: str | None = None
    previous_page: str | None = None
    next_cursor: str | None = None


class ListPage(BaseModel):
    """One list answer. `results` stay raw dicts: each is validated on its own so one bad record is
    quarantined instead of failing the page."""

    results: list[Any]
    pagination: Pagination
