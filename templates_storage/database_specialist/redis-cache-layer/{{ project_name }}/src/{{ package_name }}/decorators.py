"""`@cached` decorator built on Cache.get_or_load."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from .cache import Cache

P = ParamSpec("P")
R = TypeVar("R")


def _default_key(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [func.__qualname__, *map(repr, args), *(f"{k}={v!r}" for k, v in sorted(kwargs.items()))]
    return ":".join(parts)


def cached(
    cache: Cache,
    ttl: int | None = None,
    key: Callable[..., str] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache a function's JSON-serialisable result.

    @cached(products_cache, ttl=600, key=lambda product_id: f"product:{product_id}")
    def load_product(product_id: int) -> dict: ...
    """

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            cache_key = key(*args, **kwargs) if key else _default_key(func, args, kwargs)
            return cache.get_or_load(cache_key, lambda: func(*args, **kwargs), ttl)

        wrapper.invalidate = lambda *a, **kw: cache.delete(key(*a, **kw) if key else _default_key(func, a, kw))  # type: ignore[attr-defined]
        return wrapper

    return decorator
