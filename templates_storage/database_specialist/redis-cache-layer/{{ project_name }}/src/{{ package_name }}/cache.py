"""Cache-aside with stampede protection.

Reads go to Redis first. On a miss, one caller takes a short lock and runs the loader while the
others wait briefly for the value instead of all hitting the database at once. If Redis is
unavailable the cache fails open: the loader runs and the error is counted, never raised.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import RedisError, WatchError

log = logging.getLogger(__name__)
T = TypeVar("T")

_NONE = b"\x00none"  # marker stored for negative-cache entries


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    loads: int = 0
    errors: int = 0
    lock_waits: int = 0


class Cache:
    def __init__(
        self,
        client: Redis,
        namespace: str,
        *,
        prefix: str = "{{ key_prefix }}",
        default_ttl: int = {{ default_ttl_seconds }},
        jitter: float = 0.1,
        negative_ttl: int = 30,
        lock_ttl_ms: int = 5_000,
        lock_wait_s: float = 2.0,
        dumps: Callable[[Any], bytes] = lambda v: json.dumps(v, separators=(",", ":")).encode(),
        loads: Callable[[bytes], Any] = json.loads,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.prefix = prefix
        self.default_ttl = default_ttl
        self.jitter = jitter
        self.negative_ttl = negative_ttl
        self.lock_ttl_ms = lock_ttl_ms
        self.lock_wait_s = lock_wait_s
        self._dumps = dumps
        self._loads = loads
        self.stats = CacheStats()

    # -- keys ------------------------------------------------------------------------------
    def _version(self) -> int:
        raw = self.client.get(f"{self.prefix}:{self.namespace}:__version")
        return int(raw) if raw else 0

    def key(self, key: str, version: int | None = None) -> str:
        v = self._version() if version is None else version
        return f"{self.prefix}:{self.namespace}:v{v}:{key}"

    def ttl_with_jitter(self, ttl: int) -> int:
        """Spread expiries so keys written together do not all expire in the same second."""
        spread = int(ttl * self.jitter)
        return max(1, ttl + random.randint(-spread, spread)) if spread else ttl

    # -- public API ------------------------------------------------------------------------
    def get(self, key: str) -> tuple[bool, Any]:
        """Returns (found, value). A cached negative result is (True, None)."""
        try:
            raw = self.client.get(self.key(key))
        except RedisError as exc:
            self._error("get", exc)
            return False, None
        if raw is None:
            return False, None
        return True, None if raw == _NONE else self._loads(raw)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        try:
            if value is None:
                self.client.set(self.key(key), _NONE, ex=self.negative_ttl)
            else:
                self.client.set(self.key(key), self._dumps(value), ex=self.ttl_with_jitter(ttl or self.default_ttl))
        except RedisError as exc:
            self._error("set", exc)

    def delete(self, key: str) -> None:
        try:
            self.client.delete(self.key(key))
        except RedisError as exc:
            self._error("delete", exc)

    def invalidate_namespace(self) -> int:
        """O(1) invalidation of every key in the namespace: bump the version, old keys expire."""
        try:
            return int(self.client.incr(f"{self.prefix}:{self.namespace}:__version"))
        except RedisError as exc:
            self._error("invalidate", exc)
            return -1

    def get_or_load(self, key: str, loader: Callable[[], T], ttl: int | None = None) -> T:
        found, value = self.get(key)
        if found:
            self.stats.hits += 1
            return value
        self.stats.misses += 1

        token = secrets.token_hex(8)
        try:
            lock_key = self.key(key) + ":lock"
            acquired = bool(self.client.set(lock_key, token, nx=True, px=self.lock_ttl_ms))
        except RedisError as exc:
            self._error("lock", exc)
            return self._load(key, loader, ttl, store=False)

        if acquired:
            try:
                return self._load(key, loader, ttl, store=True)
            finally:
                self._release(lock_key, token)

        # Someone else is loading: wait for their value, then fall back to loading ourselves.
        self.stats.lock_waits += 1
        deadline = time.monotonic() + self.lock_wait_s
        while time.monotonic() < deadline:
            time.sleep(0.02)
            found, value = self.get(key)
            if found:
                self.stats.hits += 1
                return value
        return self._load(key, loader, ttl, store=True)

    # -- internals -------------------------------------------------------------------------
    def _load(self, key: str, loader: Callable[[], T], ttl: int | None, store: bool) -> T:
        self.stats.loads += 1
        value = loader()
        if store:
            self.set(key, value, ttl)
        return value

    def _release(self, lock_key: str, token: str) -> None:
        """Delete the lock only if we still own it (it may have expired and been re-taken)."""
        try:
            with self.client.pipeline() as pipe:
                pipe.watch(lock_key)
                if pipe.get(lock_key) == token.encode():
                    pipe.multi()
                    pipe.delete(lock_key)
                    pipe.execute()
                else:
                    pipe.unwatch()
        except WatchError:
            pass
        except RedisError as exc:
            self._error("unlock", exc)

    def _error(self, op: str, exc: Exception) -> None:
        self.stats.errors += 1
        log.warning("redis %s failed, failing open: %s", op, exc)
