"""Dagster resources: thin wrappers that build the Dagster-free client and open the warehouse."""

from __future__ import annotations

import duckdb
from dagster import ConfigurableResource
from pydantic import Field, SecretStr

from interactions_etl import warehouse
from interactions_etl.mixpeek.client import MixpeekClient, RetryPolicy
from interactions_etl.mixpeek.settings import DEFAULT_BASE_URL, MixpeekSettings
from interactions_etl.privacy import Pseudonymiser


class MixpeekResource(ConfigurableResource):
    """The interactions API. `api_key` comes from EnvVar("MIXPEEK_API_KEY"): Dagster never shows its value."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str
    namespace: str
    retriever_id: str | None = None
    requests_per_second: float = Field(default=10.0, description="Request budget (the free tier: 10/s).")
    max_in_flight: int = Field(default=5, description="Requests in flight at once (the free tier: 5).")
    page_size: int = Field(default=1000, description="Records per list page (1..1000).")
    timeout_seconds: float = 60.0
    max_attempts: int = Field(default=8, description="Attempts per request before a load fails.")
    max_retry_seconds: float = Field(default=600.0, description="Time budget per request, retries included.")

    def settings(self) -> MixpeekSettings:
        return MixpeekSettings(
            base_url=self.base_url,
            api_key=SecretStr(self.api_key),
            namespace=self.namespace,
            retriever_id=self.retriever_id or None,
        )

    def client(self) -> MixpeekClient:
        return MixpeekClient(
            self.settings(),
            requests_per_second=self.requests_per_second,
            max_in_flight=self.max_in_flight,
            timeout_seconds=self.timeout_seconds,
            retry=RetryPolicy(max_attempts=self.max_attempts, max_total_seconds=self.max_retry_seconds),
        )


class WarehouseResource(ConfigurableResource):
    """The DuckDB file the loads write, the copy analysts open, and what the warehouse may keep."""

    path: str = "warehouse.duckdb"
    published_path: str | None = Field(
        default=None, description="The analysts' copy (unset: <name>.published.duckdb beside `path`)."
    )
    retention_days: int | None = Field(
        default=None, description="Days of raw and staging rows kept (unset: everything)."
    )
    pseudonymise_key: str | None = Field(
        default=None,
        description="Key of the user-id pseudonyms (EnvVar('INTERACTIONS_PSEUDONYMISE_KEY')); unset: ids as sent.",
    )
    memory_limit: str = Field(
        default="512MB", description="DuckDB memory limit of a load (it spills beyond)."
    )
    lock_timeout_seconds: float = Field(
        default=warehouse.DEFAULT_LOCK_TIMEOUT_SECONDS,
        description="How long to wait for another process's lock on the file before failing, naming it.",
    )

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return warehouse.connect(
            self.path,
            read_only=read_only,
            memory_limit=self.memory_limit,
            lock_timeout_seconds=self.lock_timeout_seconds,
        )

    def published(self) -> str:
        return str(warehouse.published_path_for(self.path, self.published_path))

    def pseudonymiser(self) -> Pseudonymiser | None:
        return Pseudonymiser(self.pseudonymise_key) if self.pseudonymise_key else None


class ReportsResource(ConfigurableResource):
    """Where the position-bias report goes and how many dated reports stay there."""

    folder: str = "reports"
    keep: int = Field(
        default=30, ge=1, description="Dated reports kept, newest first; older ones are deleted."
    )
