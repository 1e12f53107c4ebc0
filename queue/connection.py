"""The one way to build a Redis client from a URL, with one timeout and retry policy.

    client = async_client(url)      # redis.asyncio, for the gateway and the workers
    client = sync_client(url)       # blocking, for the CLI and threads (model loading)

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

import redis
import redis.asyncio as aioredis
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


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=_BACKOFF_BASE_SECONDS, cap=_BACKOFF_CAP_SECONDS)


def async_client(url: str) -> aioredis.Redis:
    """An asyncio client for `url` (redis://, rediss:// or unix://) with the house policy."""
    return aioredis.Redis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS, retry_on_timeout=False,
        retry=AsyncRetry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,)))


def sync_client(url: str) -> redis.Redis:
    """A blocking client for `url` with the same policy as `async_client`."""
    return redis.Redis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS, retry_on_timeout=False,
        retry=Retry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,)))


def raise_if_cancelled(exc: BaseException) -> None:
    """redis-py turns the cancellation of a pending read into a ConnectionError. A loop that
    retries on Redis errors calls this first, so that a cancelled task still ends (at shutdown,
    or when a test's event loop is torn down after a failure) instead of retrying forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
