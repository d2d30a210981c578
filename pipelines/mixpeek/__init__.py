"""A Dagster-free client for Mixpeek's interactions API: settings, models, retries and complete paging."""

from pipelines.mixpeek.client import ClientStats, MixpeekClient, RetryPolicy
from pipelines.mixpeek.errors import MixpeekApiError
from pipelines.mixpeek.settings import MixpeekSettings

__all__ = ["ClientStats", "MixpeekApiError", "MixpeekClient", "MixpeekSettings", "RetryPolicy"]
