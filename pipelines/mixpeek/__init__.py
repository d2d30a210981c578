"""A Dagster-free client for Mixpeek's interactions API: settings, models, retries and complete paging."""

from interactions_etl.mixpeek.client import ClientStats, MixpeekClient, RetryPolicy
from interactions_etl.mixpeek.errors import MixpeekApiError
from interactions_etl.mixpeek.settings import MixpeekSettings

__all__ = ["ClientStats", "MixpeekApiError", "MixpeekClient", "MixpeekSettings", "RetryPolicy"]
