"""Finishing the WeCom 微信客服 channel: its callback (kf_msg_or_event) says only that messages
wait, with a Token good for 10 minutes; the messages themselves are fetched with kf/sync_msg.

When a webhook delivery carrying that event has been durably recorded, the gateway fetches in
the background (the callback is answered at once): one gateway per account at a time (a Redis
lease), page by page from the account's stored cursor, every page handed to the normal intake
path (ingest dedupes by msgid) BEFORE the cursor moves past it. A fetch that fails (WeCom
down, Redis down, a wrong kf_secret) leaves the cursor where it was; the next callback fetches
from there, and WeCom keeps messages for 3 days.

A callback can be lost (WeCom gives up on an unreachable gateway), so every account with a
kf_secret is also polled every `kf_poll_seconds` (default 60; 0 turns it off): the same fetch
without a callback Token, by one gateway per interval across all of them (a Redis key with the
interval as its expiry), the first one interval after start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from deskgate.connectors.send.base import RetryLater, SendError
from deskgate.connectors.send.wecom import sync_page
from deskgate.connectors.wechat import Account, WeComSettings
from deskgate.connectors.wecom_kf import to_message
from deskgate.gateway.appkeys import CONFIG, INGEST, KEYS, REDIS
from deskgate.gateway.channel_accounts import LiveAccounts
from deskgate.models.message import InboundMessage
from deskgate.queue.access_tokens import RedisAccessTokens
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.ingest import IngestUnavailable
from deskgate.queue.wecom_cursor import WeComCursor

log = logging.getLogger("deskgate.wecom_sync")

KF_EVENT = "kf_msg_or_event"
LEASE_MS = 60_000            # renewed after every page
MAX_PAGES = 100              # 10,000 messages per callback; the rest on the next one
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=20, sock_connect=5)
POLL_TICK = 1.0              # how often the poller looks for an account whose interval is up


class WeComSync:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def notice(self, app: web.Application, channel: str, account: str, settings: Any,
               messages: Sequence[InboundMessage]) -> None:
        """Called once a delivery is durably stored: fetch if it announced 微信客服 messages."""
        if channel != "wecom" or not isinstance(settings, Account):
            return
        if not isinstance(settings.source, WeComSettings) or not settings.source.kf_secret:
            return
        for m in messages:
            if m.meta.get("Event") == KF_EVENT:
                task = asyncio.create_task(self.fetch(app, account, settings,
                                                      m.meta.get("Token", ""),
                                                      m.meta.get("OpenKfId", "")))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def fetch(self, app: web.Application, account: str, settings: Account,
                    callback_token: str, open_kfid: str) -> int:
        """Fetch and ingest everything new; returns how many messages were handed to intake
        (0 when another gateway holds the lease)."""
        cursors = WeComCursor(app[REDIS], app[KEYS])
        tokens = RedisAccessTokens(app[REDIS], app[KEYS])
        skill = settings.skill
        total = 0
        try:
            if not await cursors.lease(account, self._owner, LEASE_MS):
                log.info("wecom/%s: another gateway is fetching its messages", account)
                return 0
            try:
                cursor = await cursors.get(account)
                for _ in range(MAX_PAGES):
                    try:
                        page = await sync_page(settings, self._session(), tokens,
                                               cursor=cursor, callback_token=callback_token,
                                               open_kfid=open_kfid)
                    except RetryLater as exc:
                        if exc.retry_after != 0:     # 0: the access token was replaced
                            raise
                        page = await sync_page(settings, self._session(), tokens,
                                               cursor=cursor, callback_token=callback_token,
                                               open_kfid=open_kfid)
                    now = datetime.now(UTC)
                    batch = [to_message(account, m, now, skill) for m in page.msg_list]
                    if batch:
                        await app[INGEST].accept_many(batch)
                    total += len(batch)
                    if page.next_cursor:
                        cursor = page.next_cursor
                        await cursors.set(account, cursor)
                    if not page.has_more:
                        break
                    await cursors.lease(account, self._owner, LEASE_MS)
            finally:
                await cursors.lease(account, self._owner, 0)
        except SendError as exc:
            log.warning("wecom/%s: fetching 微信客服 messages failed, the next callback retries "
                        "from the same cursor: %s", account, exc.reason)
        except (IngestUnavailable, RedisError, OSError) as exc:
            raise_if_cancelled(exc)          # shutting down, not a storage failure
            log.warning("wecom/%s: storage unavailable while fetching 微信客服 messages, the "
                        "next callback retries from the same cursor: %s", account, exc)
        if total:
            log.info("wecom/%s: %d 微信客服 messages fetched", account, total)
        return total

    async def poll(self, app: web.Application, stop: asyncio.Event) -> None:
        """Until `stop`: fetch each polled account once per its kf_poll_seconds. The stop flag
        ends the loop even when a cancellation was swallowed (LiveAccounts.get logs a Redis
        error, which is what redis-py makes of a cancelled read, and carries on)."""
        live, cursors = LiveAccounts(app[CONFIG]), WeComCursor(app[REDIS], app[KEYS])
        loop = asyncio.get_running_loop()
        due: dict[str, float] = {}
        while not stop.is_set():
            tick = POLL_TICK
            try:
                for account, settings in await live.of_channel(app[REDIS], app[KEYS], "wecom"):
                    interval = polled(settings)
                    if not interval:
                        continue
                    tick = min(tick, interval)
                    now = loop.time()
                    if now < due.setdefault(account, now + interval):
                        continue
                    due[account] = now + interval
                    if await cursors.poll_due(account, self._owner, int(interval * 1000)):
                        await self.fetch(app, account, settings, "", "")
            except (RedisError, OSError) as exc:
                raise_if_cancelled(exc)
                log.warning("wecom: polling 微信客服 accounts paused, Redis unavailable: %s", exc)
            except Exception as exc:   # a bug must not end polling for good
                raise_if_cancelled(exc)
                log.exception("wecom: polling 微信客服 accounts failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        return self._http

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()


def polled(settings: Any) -> float:
    """The account's poll interval in seconds; 0 when it is not polled."""
    if not isinstance(settings, Account) or not isinstance(settings.source, WeComSettings):
        return 0.0
    return settings.source.kf_poll_seconds if settings.source.kf_secret else 0.0


WECOM_SYNC = web.AppKey("wecom_sync", WeComSync)


def setup(app: web.Application) -> None:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        sync = app[WECOM_SYNC] = WeComSync()
        stop = asyncio.Event()
        poller = asyncio.create_task(sync.poll(app, stop))
        yield
        stop.set()
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await sync.close()
    app.cleanup_ctx.append(ctx)
