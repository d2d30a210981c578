"""Per-key rate limiting as the service publishes it: a request rate and a cap on requests in flight.

A token bucket per API key holds one second's worth of requests and refills continuously. Every private response
carries X-RateLimit-Limit, -Remaining, -Reset (unix time the bucket is full again) and -Window (seconds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mixpeek_emulator.errors import ApiError, retry_after_headers

# Published tiers (api-notes.md): requests per second, concurrent requests.
TIERS: dict[str, tuple[float, int]] = {"free": (10.0, 5), "pro": (100.0, 50)}


@dataclass
class RateLimit:
    requests_per_second: float
    max_concurrent: int

    @staticmethod
    def tier(name: str) -> RateLimit | None:
        if name == "unlimited":
            return None
        rate, concurrent = TIERS[name]
        return RateLimit(rate, concurrent)


@dataclass
class _Bucket:
    tokens: float
    updated: float
    in_flight: int = 0


@dataclass
class RateLimiter:
    limit: RateLimit
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def _refill(self, key: str) -> _Bucket:
        now = self.monotonic()
        capacity = self.limit.requests_per_second
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * capacity)
            bucket.updated = now
        return bucket

    def acquire(self, key: str) -> None:
        """Take a token and a concurrency slot, or raise the 429 the service answers."""
        bucket = self._refill(key)
        if bucket.in_flight >= self.limit.max_concurrent:
            raise self._too_many(key, f"More than {self.limit.max_concurrent} concurrent requests", 1.0)
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / self.limit.requests_per_second
            raise self._too_many(
                key, f"Rate limit of {self.limit.requests_per_second:g} requests/s exceeded", wait
            )
        bucket.tokens -= 1.0
        bucket.in_flight += 1

    def release(self, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.in_flight > 0:
            bucket.in_flight -= 1

    def headers(self, key: str) -> dict[str, str]:
        bucket = self._refill(key)
        capacity = self.limit.requests_per_second
        full_in = (capacity - bucket.tokens) / capacity
        return {
            "X-RateLimit-Limit": f"{capacity:g}",
            "X-RateLimit-Remaining": str(max(0, math.floor(bucket.tokens))),
            "X-RateLimit-Reset": str(math.ceil(self.wall() + full_in)),
            "X-RateLimit-Window": "1",
        }

    def _too_many(self, key: str, message: str, wait: float) -> ApiError:
        return ApiError(
            429,
            message,
            details={"retry_after_seconds": round(wait, 3), "limit": self.limit.requests_per_second},
            headers={**self.headers(key), **retry_after_headers(wait)},
        )
