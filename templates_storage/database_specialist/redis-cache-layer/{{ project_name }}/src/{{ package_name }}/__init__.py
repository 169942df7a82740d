"""Cache-aside helpers for Redis."""

from .cache import Cache, CacheStats
from .client import make_client
from .decorators import cached

__all__ = ["Cache", "CacheStats", "cached", "make_client"]
