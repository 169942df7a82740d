"""Redis semantics the application relies on, checked against a real server."""

import time

import pytest
import redis

pytestmark = pytest.mark.integration


def test_set_nx_is_a_lock(cache: redis.Redis) -> None:
    assert cache.set("lock:report", "worker-1", nx=True, px=5000)
    assert not cache.set("lock:report", "worker-2", nx=True, px=5000)
    assert cache.get("lock:report") == "worker-1"


def test_keys_expire(cache: redis.Redis) -> None:
    cache.set("session:abc", "data", px=150)
    assert cache.exists("session:abc")
    time.sleep(0.3)
    assert not cache.exists("session:abc")


def test_sliding_window_rate_limit(cache: redis.Redis) -> None:
    key, limit, now = "rate:user:42", 3, time.time()
    allowed = []
    for i in range(5):
        pipe = cache.pipeline()
        pipe.zremrangebyscore(key, 0, now - 60)
        pipe.zadd(key, {f"req-{i}": now + i / 1000})
        pipe.zcard(key)
        pipe.expire(key, 60)
        count = pipe.execute()[2]
        allowed.append(count <= limit)
    assert allowed == [True, True, True, False, False]


def test_stream_consumer_group(cache: redis.Redis) -> None:
    cache.xgroup_create("events", "workers", id="0", mkstream=True)
    cache.xadd("events", {"type": "order.created", "id": "1"})
    messages = cache.xreadgroup("workers", "w1", {"events": ">"}, count=10)
    [(stream, entries)] = messages
    assert stream == "events"
    entry_id, fields = entries[0]
    assert fields["type"] == "order.created"
    assert cache.xack("events", "workers", entry_id) == 1
