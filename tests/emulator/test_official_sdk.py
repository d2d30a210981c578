"""Proof of fidelity: the official `mixpeek` SDK from PyPI (1.3.783, API 0.82), pointed at the emulator, creates,
gets, lists (filters, sort, cursor paging) and deletes interactions. Its response models are strict: a field of
the wrong shape in any answer makes it raise."""

from __future__ import annotations

from collections.abc import Iterator

import mixpeek
import pytest
from mixpeek.models.bulk_interactions_request import BulkInteractionsRequest
from mixpeek.models.list_interactions_request import ListInteractionsRequest
from mixpeek.models.public_interaction_request import PublicInteractionRequest
from mixpeek.models.search_interaction import SearchInteraction

from mixpeek_emulator.app import PublicRetriever
from mixpeek_emulator.server import EmulatorServer
from tests.emulator.conftest import API_KEY, NAMESPACE, EmulatorFactory, interaction


@pytest.fixture
def server(make_emulator: EmulatorFactory) -> EmulatorServer:
    return make_emulator(public_retrievers={"product-search": PublicRetriever(NAMESPACE, "ret_public")})


@pytest.fixture
def sdk(server: EmulatorServer) -> Iterator[mixpeek.ApiClient]:
    config = mixpeek.Configuration(host=server.base_url, access_token=API_KEY)  # host without /v1
    config.api_key["NamespaceHeader"] = NAMESPACE
    with mixpeek.ApiClient(config) as client:
        yield client


def test_sdk_create_get_list_delete(sdk: mixpeek.ApiClient) -> None:
    api = mixpeek.RetrieverInteractionsApi(sdk)
    created = api.create_interaction_retrievers(
        search_interaction=SearchInteraction.from_dict(interaction(interaction_type=["click", "long_view"]))
    )
    assert created.interaction_id and created.deduplicated is False
    assert created.metadata["reward_value"] == 2.5

    fetched = api.get_interaction_retrievers(interaction_id=created.interaction_id)
    assert fetched.feature_id == "doc_1" and [t.value for t in fetched.interaction_type] == [
        "click",
        "long_view",
    ]

    bulk = api.create_interactions_bulk_retrievers_batch(
        bulk_interactions_request=BulkInteractionsRequest.from_dict(
            {"interactions": [interaction(execution_id=f"e{i}", position=i) for i in range(25)]}
        )
    )
    assert bulk.created == 25 and len(bulk.results) == 25

    request = ListInteractionsRequest.from_dict(
        {"filters": {"position": {"lte": 5}}, "sort": {"field": "timestamp", "direction": "asc"}}
    )
    first = api.list_interactions_retrievers(limit=3, include_total=True, list_interactions_request=request)
    assert first.pagination.total == 7  # positions 0..5 of the batch plus the first record
    seen = [r.interaction_id for r in first.results]
    token = first.pagination.next_cursor
    while token:
        page = api.list_interactions_retrievers(limit=3, cursor=token, list_interactions_request=request)
        seen.extend(r.interaction_id for r in page.results)
        token = page.pagination.next_cursor
    assert len(seen) == 7 == len(set(seen))
    assert seen[0] == created.interaction_id

    explicit = ListInteractionsRequest.from_dict(
        {
            "filters": {
                "AND": [
                    {"field": "position", "operator": "gte", "value": 20, "case_sensitive": False},
                    {
                        "field": "metadata.device",
                        "operator": "eq",
                        "value": "MOBILE",
                        "case_sensitive": False,
                    },
                ]
            },
            "sort": {"field": "position", "direction": "desc"},
        }
    )
    ranked = api.list_interactions_retrievers(limit=100, list_interactions_request=explicit)
    assert [r.position for r in ranked.results] == [24, 23, 22, 21, 20]

    api.delete_interaction_retrievers(interaction_id=created.interaction_id)
    api.delete_interaction_retrievers(interaction_id=created.interaction_id)  # idempotent
    with pytest.raises(mixpeek.ApiException) as missing:
        api.get_interaction_retrievers(interaction_id=created.interaction_id)
    assert missing.value.status == 404


def test_sdk_public_track(sdk: mixpeek.ApiClient, server: EmulatorServer) -> None:
    public = mixpeek.PublicRetrieverAPIApi(sdk)
    public.track_interaction_retrievers_name(
        public_name="product-search",
        public_interaction_request=PublicInteractionRequest.from_dict(
            {"document_id": "doc_7", "interaction_type": ["click"], "position": 1, "execution_id": "exec_pub"}
        ),
        x_session_id="sess_pub",
    )
    api = mixpeek.RetrieverInteractionsApi(sdk)
    stored = api.list_interactions_retrievers(
        list_interactions_request=ListInteractionsRequest.from_dict({"retriever_id": "ret_public"})
    )
    assert [(r.feature_id, r.session_id) for r in stored.results] == [("doc_7", "sess_pub")]
