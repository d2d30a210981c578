"""Request bodies as the server validates them (API 0.82): strict, with the server's own rules.

These are deliberately separate from the client's models: a server refuses what it does not know, a client
must keep it (forward compatibility). Undeclared keys are refused (`extra_forbidden`), as the service does
since 2026-11-02.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class InteractionType(StrEnum):
    IMPRESSION = "impression"
    VIEW = "view"
    CLICK = "click"
    DWELL = "dwell"
    POSITIVE_FEEDBACK = "positive_feedback"
    NEGATIVE_FEEDBACK = "negative_feedback"
    PURCHASE = "purchase"
    ADD_TO_CART = "add_to_cart"
    WISHLIST = "wishlist"
    LONG_VIEW = "long_view"
    SHARE = "share"
    BOOKMARK = "bookmark"
    QUERY_REFINEMENT = "query_refinement"
    ZERO_RESULTS = "zero_results"
    FILTER_TOGGLE = "filter_toggle"
    SKIP = "skip"
    RETURN_TO_RESULTS = "return_to_results"
    PLAY = "play"
    DOWNLOAD = "download"
    SAVE = "save"
    ADD_TO_PROJECT = "add_to_project"
    RATING = "rating"


def _lower_types(value: Any) -> Any:
    # The public-route docs send "CLICK"; the service folds case before checking the enum.
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    return value


InteractionTypes = Annotated[list[InteractionType], BeforeValidator(_lower_types), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SearchInteractionIn(_Strict):
    feature_id: str = Field(validation_alias=AliasChoices("feature_id", "document_id"))
    interaction_type: InteractionTypes
    position: int = Field(ge=0)
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

    @model_validator(mode="after")
    def _server_rules(self) -> SearchInteractionIn:
        if self.retriever_id is not None and self.execution_id is None:
            raise ValueError("execution_id is required when retriever_id is set")
        if self.result_set_size == 0 and InteractionType.ZERO_RESULTS not in self.interaction_type:
            raise ValueError("result_set_size may be 0 only for a zero_results interaction")
        return self


class PublicInteractionIn(_Strict):
    document_id: str
    interaction_type: InteractionTypes
    position: int = Field(ge=0)
    execution_id: str | None = None
    query_snapshot: dict[str, Any] | None = None
    document_score: float | None = None
    result_set_size: int | None = Field(default=None, ge=1)
    session_id: str | None = None
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _execution_required(self) -> PublicInteractionIn:
        # 0.82: "An interaction without it is refused (422)."
        if self.execution_id is None:
            raise ValueError("execution_id is required on the public track route")
        return self


class BulkInteractionsIn(_Strict):
    interactions: list[SearchInteractionIn] = Field(min_length=1, max_length=1000)


class PublicInteractionBatchIn(_Strict):
    interactions: list[PublicInteractionIn] = Field(min_length=1, max_length=100)


class SortOptionIn(_Strict):
    field: str = Field(min_length=1)
    direction: Literal["asc", "desc"] = "asc"


class ListInteractionsIn(_Strict):
    execution_id: str | None = None
    retriever_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    feature_id: str | None = None
    interaction_type: str | None = None
    filters: dict[str, Any] | None = None
    sort: SortOptionIn | None = None
    search: str | None = None
    # Not in the request schema, but PaginationResponse.total documents it "in the body or as ?include_total".
    include_total: bool | None = None


def accepted_keys(model: type[BaseModel]) -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            keys.extend(str(choice) for choice in alias.choices)
        else:
            keys.append(name)
    return keys
