import os

import fakeredis
import pytest
from redis import Redis

from {{ package_name }} import Cache


@pytest.fixture
def redis_client() -> Redis:
    """fakeredis by default; set REDIS_URL to run the same tests against a real server."""
    url = os.environ.get("REDIS_URL")
    if url:
        client = Redis.from_url(url)
        client.flushdb()
        return client
    return fakeredis.FakeRedis()


@pytest.fixture
def cache(redis_client: Redis) -> Cache:
    return Cache(redis_client, "products", default_ttl=60)
