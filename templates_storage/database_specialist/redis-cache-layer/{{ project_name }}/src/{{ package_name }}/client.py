"""Redis client factory with timeouts suitable for a cache (fail fast, never hang a request)."""

from __future__ import annotations

import os

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def make_client(url: str | None = None) -> Redis:
    return Redis.from_url(
        url or os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        socket_connect_timeout=0.25,
        socket_timeout=0.25,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
        decode_responses=False,
    )
