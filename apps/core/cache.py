"""The Redis cache of the portal, and a request counter for throttles in one round trip.

Django's ``RedisCache`` builds a new ``redis.Redis`` client object for every cache operation;
with redis-py 5+ that constructor fills a table of ~170 response callbacks and costs about
0.9 ms of CPU — more than a whole ``/healthz`` request. :class:`RedisCache` keeps one client
per connection pool instead (a client is thread-safe; the pool still hands out connections
and reconnects after a fork). Settings switch to it whenever ``CACHE_URL`` is a Redis URL.

:func:`throttle_hit` records one request of a client in a sliding window and answers
whether it is allowed, in one Redis round trip (a Lua script), where the REST framework's
throttle reads and then writes the client's history (two round trips).
"""

from __future__ import annotations

import time
import uuid

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property


class _ClientPerPool(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        clients = self.__dict__.setdefault("_clients_by_pool", {})
        client = clients.get(id(pool))
        if client is None or client.connection_pool is not pool:
            client = clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """Django's Redis cache with one client object per connection pool (see the module)."""

    @cached_property
    def _cache(self):
        return _ClientPerPool(self._servers, **self._options)


# KEYS[1]: the client's key; ARGV: now, window (s), limit, a unique member.
# Drops the requests older than the window, then admits this one if fewer than ``limit``
# remain; answers {1, 0} (allowed) or {0, the oldest request's time} (refused).
_SLIDING_WINDOW = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('EXPIRE', key, math.ceil(window))
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, oldest[2]}
"""


def throttle_hit(key: str, *, limit: int, window: float, cache=None) -> float | None:
    """Record a request under ``key`` if fewer than ``limit`` were recorded in the last
    ``window`` seconds: returns None when allowed, else the seconds until one more request
    would be. One round trip on Redis; on other caches (development, tests) the same rule
    with a read and a write."""
    cache = cache or caches["default"]  # the backend itself (django.core.cache.cache is a proxy)
    now = time.time()
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(key, write=True)
        script = cache.__dict__.get("_throttle_script")
        if script is None:
            script = cache.__dict__["_throttle_script"] = client.register_script(_SLIDING_WINDOW)
        allowed, oldest = script(keys=[cache.make_and_validate_key(key)],
                                 args=[now, window, limit, f"{now}:{uuid.uuid4().hex[:8]}"], client=client)
        return None if int(allowed) else max(0.0, float(oldest) + window - now)
    history = [t for t in cache.get(key, []) if t > now - window]
    if len(history) >= limit:
        return max(0.0, min(history) + window - now)
    cache.set(key, [*history, now], int(window) + 1)
    return None
