"""The one way to build a Redis client from a URL, with one timeout and retry policy.

    client = async_client(url)      # redis.asyncio, for the gateway and the workers
    client = sync_client(url)       # blocking, for the CLI, rq jobs and threads (model loading)

`url` is redis://, rediss:// or unix:// for one server, or a Sentinel group:

    redis+sentinel://[[user]:password@]host1[:port],host2[:port],…/master-name[/db]
        [?sentinel_password=…&sentinel_username=…]

The sentinels (default port 26379) are asked for the current master of `master-name`; the
user and password are the Redis servers' own (`requirepass`/ACL), the query's are the
sentinels' (their `requirepass`). Every connection is made to whatever the sentinels call the
master at that moment, so after a failover new connections go to the new master, and a
connection still open to a demoted master fails (READONLY becomes a connection error) and is
made again.

`url` is redis://, rediss://, unix:// (one server) or redis+cluster://host:port,host:port
(a Redis Cluster: any reachable nodes; the client learns the rest and routes each command,
script and single-slot pipeline by its keys). Deskgate keeps every key of a tenant in one hash
slot (queue/keys.py), so what it does on one server it does unchanged on a cluster; the
callers type the client as redis.asyncio.Redis, whose commands the cluster client offers.

Policy, the same for every process:
- a connection attempt gives up after CONNECT_TIMEOUT_SECONDS, a command after
  SOCKET_TIMEOUT_SECONDS (longer than any blocking read we issue: XREADGROUP blocks for
  `workers.block_ms`, 200 ms by default), so a stalled Redis becomes an error the caller answers
  (503, exit code) instead of a hang; a sentinel gets SENTINEL_TIMEOUT_SECONDS and no retry,
  because the next sentinel is asked instead;
- an idle pooled connection is PINGed before reuse after HEALTH_CHECK_SECONDS, so a connection
  cut while idle is replaced rather than failing the next command;
- a command is retried RETRIES times, with a short jittered backoff (at most ~2 s in all, which
  also spans a Sentinel failover with down-after-milliseconds 1000), only when the connection
  failed - never after a timeout, when the command may have run and a retry could apply a
  non-idempotent script twice. Past that the caller answers 503 / SMTP 451 and the sender
  retries later;
- a process's asyncio client holds at most `max_connections` connections (per node on a
  Cluster); a command that finds them all busy waits up to `pool_timeout` seconds for one to be
  released, then fails with PoolBusy - "this process is busy", not "Redis is down" (the gateway
  answers 503 with Retry-After). redis-py's cluster client cannot wait: a full node pool raises
  its MaxConnectionsError (PoolBusy's parent) at once."""

from __future__ import annotations

import asyncio
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec
import redis
import redis.asyncio as aioredis
import redis.cluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from deskgate.models.errors import Invalid

CONNECT_TIMEOUT_SECONDS = 5.0
SOCKET_TIMEOUT_SECONDS = 10.0
SENTINEL_TIMEOUT_SECONDS = 1.0
HEALTH_CHECK_SECONDS = 30
RETRIES = 3
_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_CAP_SECONDS = 1.0
CLUSTER_SCHEME = "redis+cluster"
# redis-py's own default pool size; a gateway sets its own (config `redis_pool`)
MAX_CONNECTIONS = 100
POOL_TIMEOUT_SECONDS = 2.0


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

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
_SENTINEL_QUERY = {"sentinel_password", "sentinel_username"}


class SentinelUrl(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed redis+sentinel:// URL."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None

    def redacted(self) -> str:
        """The URL without its passwords, for logs and error messages."""
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.sentinels)
        return f"{SENTINEL_SCHEME}://{hosts}/{self.master}/{self.db}"


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Invalid (saying what is wrong, never echoing a password) unless `url` is a well-formed
    redis+sentinel:// URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise Invalid(f"a Sentinel URL starts with {SENTINEL_SCHEME}://", field="redis_url")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_host_port(h) for h in hostlist.split(",") if h.strip())
    if not sentinels:
        raise Invalid("the Sentinel URL names no sentinel: "
                      f"{SENTINEL_SCHEME}://host1:26379,host2:26379/master-name",
                      field="redis_url")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise Invalid("the Sentinel URL must end in /master-name or /master-name/db "
                      "(db a number), e.g. "
                      f"{SENTINEL_SCHEME}://host1:26379,host2:26379/mymaster/0",
                      field="redis_url")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - _SENTINEL_QUERY
    if unknown:
        raise Invalid(f"unknown Sentinel URL option(s) {', '.join(sorted(unknown))}: "
                      f"known are {', '.join(sorted(_SENTINEL_QUERY))}", field="redis_url")
    return SentinelUrl(
        sentinels=sentinels, master=unquote(path[0]), db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None, password=unquote(password) or None,
        sentinel_username=query.get("sentinel_username", [""])[-1] or None,
        sentinel_password=query.get("sentinel_password", [""])[-1] or None)


def _host_port(item: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not host or (port and not port.isdigit()) or not 0 < int(port or SENTINEL_PORT) < 65536:
        raise Invalid(f"bad sentinel address {item!r} in the Sentinel URL: write host:port",
                      field="redis_url")
    return host, int(port or SENTINEL_PORT)


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=_BACKOFF_BASE_SECONDS, cap=_BACKOFF_CAP_SECONDS)


def _policy() -> dict[str, Any]:
    return {"socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "health_check_interval": HEALTH_CHECK_SECONDS, "retry_on_timeout": False}


def _sentinel_policy(s: SentinelUrl) -> dict[str, Any]:
    return {"socket_timeout": SENTINEL_TIMEOUT_SECONDS,
            "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
            "username": s.sentinel_username, "password": s.sentinel_password}


class PoolBusy(MaxConnectionsError):
    """Every pooled connection stayed busy for the whole wait: the process is overloaded, Redis
    may be fine. A command that never got a connection never ran, so retrying it is safe."""


class _BlockingPool(aioredis.BlockingConnectionPool):
    """Waits for a free connection; a wait that times out raises PoolBusy, where redis-py raises
    a plain ConnectionError that cannot be told from a Redis that is down."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(  # type: ignore[no-untyped-call]
                *args, **kwargs)
        except RedisConnectionError as exc:
            # Only the wait for a free connection ends in a ConnectionError caused by a timeout
            # (connecting fails with redis's TimeoutError or an OSError's ConnectionError).
            if isinstance(exc.__cause__, TimeoutError) and not isinstance(exc, PoolBusy):
                raise PoolBusy(f"all {self.max_connections} Redis connections stayed busy "
                               f"for {self.timeout} s") from exc
            raise


class _AsyncPool(AsyncSentinelPool, _BlockingPool):
    """Waits for a free connection like _BlockingPool; closing the client also closes its
    connections to the sentinels."""

    async def aclose(self) -> None:
        await super().aclose()
        for sentinel in self.sentinel_manager.sentinels:
            await sentinel.aclose()


class _SyncPool(SentinelConnectionPool):
    def close(self) -> None:
        super().close()
        for sentinel in self.sentinel_manager.sentinels:
            sentinel.close()


def async_client(url: str, *, max_connections: int = MAX_CONNECTIONS,
                 pool_timeout: float = POOL_TIMEOUT_SECONDS) -> aioredis.Redis:
    """An asyncio client for `url` with the house policy, holding at most `max_connections`
    connections and waiting up to `pool_timeout` seconds for a free one (PoolBusy after)."""
    retry = AsyncRetry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,))
    if is_cluster(url):
        address = ClusterAddress(url)
        return cast(aioredis.Redis, aioredis.RedisCluster(
            startup_nodes=[AsyncClusterNode(h, p) for h, p in address.nodes],
            username=address.username, password=address.password, retry=retry,
            socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            health_check_interval=HEALTH_CHECK_SECONDS, max_connections=max_connections))
    if not is_sentinel_url(url):
        return aioredis.Redis.from_pool(_BlockingPool.from_url(
            url, max_connections=max_connections, timeout=pool_timeout, retry=retry,
            **_policy()))
    s = parse_sentinel_url(url)
    group = AsyncSentinel(list(s.sentinels), sentinel_kwargs={  # type: ignore[no-untyped-call]
        **_sentinel_policy(s), "retry": AsyncRetry(NoBackoff(), 0)})
    client: aioredis.Redis = group.master_for(
        s.master, redis_class=aioredis.Redis, connection_pool_class=_AsyncPool, db=s.db,
        username=s.username, password=s.password, retry=retry,
        max_connections=max_connections, timeout=pool_timeout, **_policy())
    return client


def sync_client(url: str) -> redis.Redis:
    """A blocking client for `url` with the same policy as `async_client`."""
    retry = Retry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,))
    if is_cluster(url):
        address = ClusterAddress(url)
        return cast(redis.Redis, redis.cluster.RedisCluster(
            # redis-py leaves the sync ClusterNode's __init__ unannotated
            startup_nodes=[redis.cluster.ClusterNode(h, p)  # type: ignore[no-untyped-call]
                           for h, p in address.nodes],
            username=address.username, password=address.password, retry=retry,
            socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            health_check_interval=HEALTH_CHECK_SECONDS))
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, retry=retry, **_policy())
    s = parse_sentinel_url(url)
    group = Sentinel(list(s.sentinels), sentinel_kwargs={  # type: ignore[no-untyped-call]
        **_sentinel_policy(s), "retry": Retry(NoBackoff(), 0)})
    client: redis.Redis = group.master_for(  # type: ignore[no-untyped-call]
        s.master, redis_class=redis.Redis, connection_pool_class=_SyncPool, db=s.db,
        username=s.username, password=s.password, retry=retry, **_policy())
    return client


async def follow_master(client: aioredis.Redis) -> bool:
    """Behind Sentinel: ask the sentinels where the master is now and, when it moved, close the
    idle connections to the old one and mark the busy ones to reconnect when released. Without
    this, commands go to the new master only once the old one fails them - and an old master
    cut off by a partition goes on answering (and acknowledging writes that the failover
    discards) until the sentinels demote it, ~20 s after the partition heals. True when the
    master moved; False for a plain URL, or while no sentinel names a healthy master (a
    failover under way)."""
    pool = getattr(client, "connection_pool", None)   # a cluster client has one per node
    if not isinstance(pool, AsyncSentinelPool):
        return False
    before = pool.master_address
    try:
        now = await pool.get_master_address()  # type: ignore[no-untyped-call]
        if before is None or now == before:
            return False
        await pool.update_active_connections_for_reconnect()  # type: ignore[no-untyped-call]
    except (RedisError, OSError) as exc:  # MasterNotFoundError: a failover under way
        raise_if_cancelled(exc)
        return False
    return True


def redacted(url: str) -> str:
    """`url` without its password, for logs."""
    if is_sentinel_url(url):
        return parse_sentinel_url(url).redacted()
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


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
