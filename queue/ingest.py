"""The durable accept: a message is acknowledged to its sender only after this returns.

Retries of the same delivery map to the same message id (models.message.message_id) and the
Lua script checks-and-adds atomically, so concurrent retries can never both be ingested.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError
from redis.typing import EncodableT

from deskgate.models.codec import encode
from deskgate.models.message import InboundMessage
from deskgate.queue.keys import Keys
from deskgate.queue.persistence import DurabilityConfig, PersistenceGuard
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import lua

# How long a message may wait for a worker and still be recognised by its marker alone: the
# worker deletes the marker when it applies the message (the message index takes over, for
# good), so this bounds only markers of messages never applied (dead letters, a trimmed stream).
DEDUPE_TTL_SECONDS = 30 * 24 * 3600
# Commits in flight at once per Ingest; the messages arriving meanwhile wait and go together
# in the next one. Unbounded, a slow Redis (a busy machine) had one commit of a few messages per
# event-loop turn in flight, each holding a pooled connection: past the pool's 100 the gateway
# answered 503 ("Too many connections").
MAX_COMMITS_IN_FLIGHT = 4
MAX_BATCH = 512  # messages per commit: one pipeline's reply stays small


class IngestUnavailable(RuntimeError):
    """Redis could not take the message: tell the sender to retry (HTTP 503 / SMTP 451)."""


class Accepted(msgspec.Struct, frozen=True):
    message_id: str
    entry_id: str
    duplicate: bool


class Ingest:
    """Accepts messages into the ingest stream.

    Concurrent `accept` calls are coalesced: those that arrive in the same event-loop turn
    share one pipelined round trip (group commit), and while MAX_COMMITS_IN_FLIGHT commits are
    in flight the newcomers wait to go together in the next. Each caller still returns only
    after its own message is durably in the stream, and each message keeps its own idempotency
    check.

    What "durably" means is the durability mode's (queue/persistence.py), confirmed once per
    batch, never per message: everysec sends PING after the batch's reply (Redis refuses it
    with MISCONF when the batch's AOF write failed, and would otherwise have said OK);
    replica appends WAIT and PING to the batch's own pipeline (WAIT counts the replicas that
    have this connection's last write - the script writes even for a duplicate, see
    ingest.lua; the PING behind it runs after the batch's AOF write);
    always needs nothing (Redis fsyncs before it replies, and exits rather than reply after a
    failed write). The guard's standing reason to refuse is read before anything is written."""

    def __init__(self, client: aioredis.Redis, keys: Keys, *,
                 dedupe_ttl: int = DEDUPE_TTL_SECONDS, maxlen: int = 0,
                 durability: DurabilityConfig = DurabilityConfig(),
                 guard: PersistenceGuard | None = None) -> None:
        self._r = client
        self._keys = keys
        self._ttl = dedupe_ttl
        self._maxlen = maxlen
        self._durability = durability
        self._guard = guard
        self._script = client.register_script(lua("ingest"))
        self._waiting: list[tuple[InboundMessage, asyncio.Future[Accepted]]] = []
        self._flush_scheduled = False
        self._inflight: set[asyncio.Task[None]] = set()

    async def accept(self, message: InboundMessage) -> Accepted:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Accepted] = loop.create_future()
        self._waiting.append((message, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        self._flush_scheduled = False
        loop = asyncio.get_running_loop()
        while self._waiting and len(self._inflight) < MAX_COMMITS_IN_FLIGHT:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            task = loop.create_task(self._commit(batch))
            self._inflight.add(task)  # keep a reference until done (asyncio holds tasks weakly)
            task.add_done_callback(self._committed)
        # what is left waits for a commit to finish: _committed flushes it

    def _committed(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._waiting and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _commit(self, batch: list[tuple[InboundMessage, asyncio.Future[Accepted]]]) -> None:
        try:
            results = await self.accept_many([m for m, _ in batch])
        except BaseException as exc:  # every waiter must hear about it, even on cancellation
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception)
                                      else IngestUnavailable("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def accept_many(self, messages: Sequence[InboundMessage]) -> list[Accepted]:
        """One round trip for several messages (a coalesced batch, or a webhook delivery
        carrying several). All-or-error: on a Redis failure nothing is acknowledged, and a retry
        is safe because whatever did get in is recognised as a duplicate."""
        if self._guard is not None and self._guard.refusal:
            raise IngestUnavailable(str(self._guard.refusal))
        try:
            try:
                replies = await self._evalsha_all(messages)
            except NoScriptError:  # Redis restarted or flushed its scripts: load and replay
                await self._r.script_load(self._script.script)
                replies = await self._evalsha_all(messages)
        except (RedisError, OSError) as exc:
            raise IngestUnavailable(str(exc)) from exc
        return [Accepted(message_id=m.id, entry_id=_s(entry), duplicate=not added)
                for m, (added, entry) in zip(messages, replies, strict=True)]

    async def _evalsha_all(self, messages: Sequence[InboundMessage]) -> list[list[object]]:
        # Plain EVALSHA: redis-py's Script-in-pipeline path sends SCRIPT EXISTS before every
        # batch, doubling the round trips of the hot path; and a lone message (the common case
        # at low load) skips the pipeline machinery. A replay after NOSCRIPT is safe because
        # the script is idempotent per message id.
        def args(m: InboundMessage) -> tuple[EncodableT, ...]:
            mid = m.id
            return (self._keys.seen(mid), self._keys.ingest, self._keys.msg(mid), mid,
                    encode(m), self._ttl, self._maxlen)

        cfg = self._durability
        sha = self._script.sha
        if len(messages) == 1 and cfg.mode != "replica":
            replies = [await self._r.evalsha(sha, 3, *args(messages[0]))]
        else:
            async with self._r.pipeline(transaction=False) as pipe:
                for m in messages:
                    pipe.evalsha(sha, 3, *args(m))
                if cfg.mode == "replica":
                    pipe.wait(cfg.replicas, cfg.replica_timeout_ms)
                    pipe.ping()
                replies = await pipe.execute(raise_on_error=True)
            if cfg.mode == "replica":
                replies, (confirmed, _) = replies[:-2], replies[-2:]
                if int(confirmed) < cfg.replicas:
                    raise IngestUnavailable(
                        f"only {confirmed} of {cfg.replicas} replica(s) confirmed the write "
                        f"within {cfg.replica_timeout_ms} ms")
        if cfg.mode == "everysec":
            await self._r.ping()
        return replies

