"""Dagster resources: thin wrappers that build the Dagster-free client and open the warehouse."""

from __future__ import annotations

import contextlib

import duckdb
from dagster import ConfigurableResource
from pydantic import Field, SecretStr, ValidationError

from interactions_etl import warehouse
from interactions_etl.backends import Warehouse, warehouse_of
from interactions_etl.lake import Lake, S3Storage
from interactions_etl.mixpeek.client import MixpeekClient, RetryPolicy
from interactions_etl.mixpeek.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_REQUEST_DEADLINE_SECONDS,
    MixpeekSettings,
)
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
    max_answer_bytes: int = Field(
        default=DEFAULT_MAX_ANSWER_BYTES, description="Largest answer read, received and decoded."
    )
    request_deadline_seconds: float = Field(
        default=DEFAULT_REQUEST_DEADLINE_SECONDS, description="Longest one attempt may take, answer included."
    )

    def settings(self) -> MixpeekSettings:
        try:
            return MixpeekSettings(
                base_url=self.base_url,
                api_key=SecretStr(self.api_key),
                namespace=self.namespace,
                retriever_id=self.retriever_id or None,
            )
        except ValidationError as exc:  # one line that names the variable, never its value
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None

    def client(self) -> MixpeekClient:
        return MixpeekClient(
            self.settings(),
            requests_per_second=self.requests_per_second,
            max_in_flight=self.max_in_flight,
            timeout_seconds=self.timeout_seconds,
            max_answer_bytes=self.max_answer_bytes,
            request_deadline_seconds=self.request_deadline_seconds,
            retry=RetryPolicy(max_attempts=self.max_attempts, max_total_seconds=self.max_retry_seconds),
        )


class WarehouseResource(ConfigurableResource):
    """The warehouse the loads write (the DuckDB file, or a DuckLake), what analysts open, and what it keeps."""

    path: str = "warehouse.duckdb"
    backend: str = Field(default="file", description="`file` (the DuckDB file `path`) or `ducklake`.")
    lake_catalog: str | None = Field(
        default=None, description="The lake's PostgreSQL catalog, libpq keywords without the password."
    )
    lake_catalog_password: str | None = Field(
        default=None,
        description="EnvVar('DUCKLAKE_CATALOG_PASSWORD'): Dagster shows the name, never the value.",
    )
    lake_data_path: str | None = Field(
        default=None, description="The lake's data files: a folder or s3://..."
    )
    lake_s3_key_id: str | None = None
    lake_s3_secret: str | None = Field(default=None, description="EnvVar('DUCKLAKE_S3_SECRET').")
    lake_s3_endpoint: str | None = None
    lake_s3_region: str = "us-east-1"
    lake_s3_use_ssl: bool = True
    lake_s3_url_style: str = "vhost"
    lake_snapshot_retention_days: int = Field(
        default=7, description="Days of lake snapshots kept; older ones expire after each build."
    )
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
    memory_limit: str | None = Field(
        default=None,
        description="DuckDB's memory limit per connection (WAREHOUSE_MEMORY_LIMIT; unset: half the memory the "
        "process can see); it spills beyond.",
    )
    temp_directory: str | None = Field(
        default=None, description="Where DuckDB spills (WAREHOUSE_TEMP_DIRECTORY; unset: DuckDB's own)."
    )
    lock_timeout_seconds: float = Field(
        default=warehouse.DEFAULT_LOCK_TIMEOUT_SECONDS,
        description="How long to wait for another process's lock on the file before failing, naming it.",
    )

    def warehouse(self) -> Warehouse:
        """The warehouse on its backend (pipelines/backends.py), from this resource's fields."""
        lake = None
        if self.lake_catalog and self.lake_data_path:
            lake = Lake(
                catalog=self.lake_catalog,
                data_path=self.lake_data_path,
                password=SecretStr(self.lake_catalog_password) if self.lake_catalog_password else None,
                s3=S3Storage(
                    key_id=self.lake_s3_key_id,
                    secret=SecretStr(self.lake_s3_secret) if self.lake_s3_secret else None,
                    endpoint=self.lake_s3_endpoint,
                    region=self.lake_s3_region,
                    use_ssl=self.lake_s3_use_ssl,
                    url_style=self.lake_s3_url_style,
                ),
            )
        return warehouse_of(
            self.backend,
            path=self.path,
            published_path=self.published_path,
            lake=lake,
            snapshot_retention_days=self.lake_snapshot_retention_days,
            memory_limit=self.memory_limit_in_effect(),
            temp_directory=self.temp_directory,
            lock_timeout_seconds=self.lock_timeout_seconds,
        )

    def location(self) -> warehouse.Location:
        """The DuckDB file's path, or the Lake."""
        return self.warehouse().location

    def name(self) -> str:
        """What reports call the warehouse: the file's name, or the lake's catalog database."""
        return self.warehouse().name

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return self.warehouse().connect(read_only=read_only)

    def memory_limit_in_effect(self) -> str:
        from interactions_etl.memory import default_memory_limit

        return self.memory_limit or default_memory_limit()

    def writer_lock(self, purpose: str) -> contextlib.AbstractContextManager[None]:
        """The warehouse's writer lock (a lake's advisory lock; nothing more on the file), waiting at most
        `lock_timeout_seconds`."""
        return self.warehouse().writer_lock(purpose)

    def pseudonymiser(self) -> Pseudonymiser | None:
        return Pseudonymiser(self.pseudonymise_key) if self.pseudonymise_key else None


class ReportsResource(ConfigurableResource):
    """Where the position-bias report goes and how many dated reports stay there."""

    folder: str = "reports"
    keep: int = Field(
        default=30, ge=1, description="Dated reports kept, newest first; older ones are deleted."
    )
