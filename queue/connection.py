"""The one way to build a Redis client from a URL, with one timeout and retry policy.

    client = async_client(url)      # redis.asyncio, for the gateway and the workers
    client = sync_client(url)       # blocking, for the CLI and threads (model loading)

`url` is redis://, rediss://, unix:// (one server) or redis+cluster://host:port,host:port
(a Redis Cluster: any reachable nodes; the client learns the rest and routes each command,
script and single-slot pipeline by its keys). Deskgate keeps every key of a tenant in one hash
slot (queue/keys.py), so what it does on one server it does unchanged on a cluster; the
callers type the client as redis.asyncio.Redis, whose commands the cluster client offers.

Policy, the same for every process:
- a connection attempt gives up after CONNECT_TIMEOUT_SECONDS, a command after
  SOCKET_TIMEOUT_SECONDS (longer than any blocking read we issue: XREADGROUP blocks for
  `workers.block_ms`, 200 ms by default), so a stalled Redis becomes an error the caller answers
  (503, exit code) instead of a hang;
- an idle pooled connection is PINGed before reuse after HEALTH_CHECK_SECONDS, so a connection
  cut while idle is replaced rather than failing the next command;
- a command is retried RETRIES times, with a short jittered backoff, only when the connection
  failed — never after a timeout, when the command may have run and a retry could apply a
  non-idempotent script twice."""

from __future__ import annotations

import asyncio
from typing import cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.cluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

CONNECT_TIMEOUT_SECONDS = 5.0
SOCKET_TIMEOUT_SECONDS = 10.0
HEALTH_CHECK_SECONDS = 30
RETRIES = 3
_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_CAP_SECONDS = 1.0
CLUSTER_SCHEME = "redis+cluster"


class ClusterAddress:
    """The nodes and password of a redis+cluster:// URL."""

    __slots__ = ("nodes", "password", "username")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        hosts = parts.netloc.rpartition("@")[2]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.nodes: list[tuple[str, int]] = []
        for node in filter(None, hosts.split(",")):
            host, _, port = node.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{url!r}: write the cluster as "
                                 f"{CLUSTER_SCHEME}://host:port,host:port")
            self.nodes.append((host.strip("[]"), int(port)))
        if not self.nodes:
            raise ValueError(f"{url!r} names no cluster node")


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME + "://")


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=_BACKOFF_BASE_SECONDS, cap=_BACKOFF_CAP_SECONDS)


def async_client(url: str) -> aioredis.Redis:
    """An asyncio client for `url` (redis://, rediss://, unix:// or redis+cluster://) with the
    house policy."""
    if is_cluster(url):
        address = ClusterAddress(url)
        return cast(aioredis.Redis, aioredis.RedisCluster(
            startup_nodes=[AsyncClusterNode(h, p) for h, p in address.nodes],
            username=address.username, password=address.password,
            socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            health_check_interval=HEALTH_CHECK_SECONDS,
            retry=AsyncRetry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,))))
    return aioredis.Redis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS, retry_on_timeout=False,
        retry=AsyncRetry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,)))


def sync_client(url: str) -> redis.Redis:
    """A blocking client for `url` with the same policy as `async_client`."""
    if is_cluster(url):
        address = ClusterAddress(url)
        return cast(redis.Redis, redis.cluster.RedisCluster(
            # redis-py leaves the sync ClusterNode's __init__ unannotated
            startup_nodes=[redis.cluster.ClusterNode(h, p)  # type: ignore[no-untyped-call]
                           for h, p in address.nodes],
            username=address.username, password=address.password,
            socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            health_check_interval=HEALTH_CHECK_SECONDS,
            retry=Retry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,))))
    return redis.Redis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS, retry_on_timeout=False,
        retry=Retry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,)))


async def open_pubsub(client: aioredis.Redis) -> PubSub:
    """A pub/sub on `client`. A cluster client learns which node serves which slot on its
    first command, and SUBSCRIBE is not one that teaches it, so it is taught here first."""
    await client.initialize()
    return client.pubsub()


def raise_if_cancelled(exc: BaseException) -> None:
    """redis-py turns the cancellation of a pending read into a ConnectionError. A loop that
    retries on Redis errors calls this first, so that a cancelled task still ends (at shutdown,
    or when a test's event loop is torn down after a failure) instead of retrying forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
