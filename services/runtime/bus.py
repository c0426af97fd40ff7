"""Redis connections from a URL, including the in-process bus of embedded runs.

``memory://<name>`` is an in-process Redis (fakeredis) shared by every connection of the process
that names it: the embedded exercise runs the three services' real subscribers, consumer
groups and outboxes on it without a server, a socket or a thread. Any other URL is a real Redis.
"""

from __future__ import annotations

from typing import Any, Final

from redis.asyncio import Redis

MEMORY: Final = "memory://"


def connection_options(url: str) -> tuple[str, dict[str, Any]]:
    """The redis:// URL and extra connection options for ``url``."""
    if not url.startswith(MEMORY):
        return url, {}
    from fakeredis.aioredis import FakeAsyncRedisConnection  # only embedded runs need it

    name = url.removeprefix(MEMORY).strip("/") or "default"
    return f"redis://{name}:6379/0", {"connection_class": FakeAsyncRedisConnection}


def redis_client(url: str) -> Redis:
    real, options = connection_options(url)
    return Redis.from_url(real, **options)
