"""Where the next WeCom 微信客服 sync_msg fetch of an account starts (its next_cursor), and the
lease that lets one gateway at a time fetch it. The cursor only moves after the fetched page
was durably ingested, so a crash re-fetches that page (ingest drops the repeats by msgid)."""

from __future__ import annotations

import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.scripts import lua


class WeComCursor:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._keys = keys
        self._lease = client.register_script(lua("mailbox_lease"))

    async def get(self, account: str) -> str:
        value = await self._r.get(self._keys.wecom_cursor(account))
        return value.decode() if isinstance(value, bytes) else (value or "")

    async def set(self, account: str, cursor: str) -> None:
        await self._r.set(self._keys.wecom_cursor(account), cursor)

    async def lease(self, account: str, owner: str, ttl_ms: int) -> bool:
        """Take or renew the fetch lease; ttl_ms 0 releases it."""
        return bool(await self._lease(keys=[self._keys.wecom_lease(account)],
                                      args=[owner, ttl_ms]))

    async def poll_due(self, account: str, owner: str, interval_ms: int) -> bool:
        """True for the one gateway that polls the account in this interval."""
        return bool(await self._r.set(self._keys.wecom_polled(account), owner, nx=True,
                                      px=interval_ms))
