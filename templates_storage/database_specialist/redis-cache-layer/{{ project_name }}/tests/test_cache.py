import threading
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from {{ package_name }} import Cache, cached


def test_miss_then_hit(cache: Cache) -> None:
    calls = []
    loader = lambda: calls.append(1) or {"id": 1, "name": "widget"}  # noqa: E731
    assert cache.get_or_load("p:1", loader) == {"id": 1, "name": "widget"}
    assert cache.get_or_load("p:1", loader) == {"id": 1, "name": "widget"}
    assert len(calls) == 1
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_keys_are_prefixed_and_ttl_is_jittered(cache: Cache, redis_client: Redis) -> None:
    cache.set("p:2", {"id": 2})
    key = cache.key("p:2")
    assert key == "{{ key_prefix }}:products:v0:p:2"
    assert 54 <= redis_client.ttl(key) <= 66


def test_negative_results_are_cached_briefly(cache: Cache, redis_client: Redis) -> None:
    calls = []
    assert cache.get_or_load("missing", lambda: calls.append(1)) is None
    assert cache.get_or_load("missing", lambda: calls.append(1)) is None
    assert len(calls) == 1
    assert redis_client.ttl(cache.key("missing")) <= cache.negative_ttl


def test_namespace_invalidation(cache: Cache) -> None:
    cache.set("p:3", {"v": 1})
    assert cache.get("p:3") == (True, {"v": 1})
    cache.invalidate_namespace()
    assert cache.get("p:3") == (False, None)


def test_stampede_runs_loader_once(redis_client: Redis) -> None:
    cache = Cache(redis_client, "stampede", lock_wait_s=3)
    calls = []
    lock = threading.Lock()

    def slow_loader() -> dict:
        with lock:
            calls.append(1)
        time.sleep(0.3)
        return {"expensive": True}

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", slow_loader))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"expensive": True}] * 8
    assert len(calls) == 1
    assert cache.stats.lock_waits == 7


class BrokenRedis(Redis):
    def execute_command(self, *args, **kwargs):  # type: ignore[override]
        raise RedisConnectionError("redis is down")


def test_fails_open_when_redis_is_down() -> None:
    cache = Cache(BrokenRedis(), "products")
    assert cache.get_or_load("p:1", lambda: {"id": 1}) == {"id": 1}
    assert cache.stats.errors >= 1
    cache.set("p:1", {"id": 1})  # must not raise
    cache.delete("p:1")


def test_decorator_and_invalidate(cache: Cache) -> None:
    calls = []

    @cached(cache, ttl=120, key=lambda product_id: f"product:{product_id}")
    def load_product(product_id: int) -> dict:
        calls.append(product_id)
        return {"id": product_id}

    assert load_product(7) == {"id": 7}
    assert load_product(7) == {"id": 7}
    load_product.invalidate(7)
    assert load_product(7) == {"id": 7}
    assert calls == [7, 7]
