"""Channel accounts an admin added or changed through the API, stored in Redis; they override
or extend the config file's `channels:` section. Values are the connector's raw settings (the
gateway validates them with the connector before they get here and again when it loads them),
secrets included: the gateway needs them to verify signatures. The API never gives a secret
back; see gateway/web/api/channels.py.

Every change increments {p}channels:rev in the same transaction, so a gateway notices a change
with one GET and re-reads the accounts only then (gateway/channel_accounts.py)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import redis.asyncio as aioredis

from deskgate.queue.keys import Keys

MAX_STORED_ACCOUNTS = 1000


class StoredAccount(msgspec.Struct, frozen=True, kw_only=True):
    settings: dict[str, Any]
    updated_by: str
    updated_at: float


def _field(channel: str, account: str) -> str:
    return f"{channel}/{account}"


class ChannelStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def rev(self) -> int:
        return int(await self._r.get(self._k.channels_rev) or 0)

    async def all(self) -> tuple[int, dict[tuple[str, str], StoredAccount]]:
        """(revision, every stored account) read together."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.get(self._k.channels_rev)
            pipe.hgetall(self._k.channels)
            rev, raw = await pipe.execute()
        out = {}
        for name, value in raw.items():
            channel, _, account = name.decode().partition("/")
            out[(channel, account)] = msgspec.json.decode(value, type=StoredAccount)
        return int(rev or 0), out

    async def get(self, channel: str, account: str) -> StoredAccount | None:
        raw = await self._r.hget(self._k.channels, _field(channel, account))
        return msgspec.json.decode(raw, type=StoredAccount) if raw else None

    async def count(self) -> int:
        return int(await self._r.hlen(self._k.channels))

    async def put(self, channel: str, account: str, settings: dict[str, Any], actor: str,
                  detail: str) -> int:
        """Store an account (validated by the caller); `detail` goes to the audit trail and
        must not contain secret values. Returns the new revision."""
        now = time.time()
        value = StoredAccount(settings=settings, updated_by=actor, updated_at=now)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.channels, _field(channel, account), msgspec.json.encode(value))
            pipe.incr(self._k.channels_rev)
            self._audit(pipe, now, actor, "channel_account_saved", channel, account, detail)
            _, rev, _ = await pipe.execute()
        return int(rev)

    async def delete(self, channel: str, account: str, actor: str) -> bool:
        now = time.time()
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k.channels, _field(channel, account))
            pipe.incr(self._k.channels_rev)
            self._audit(pipe, now, actor, "channel_account_deleted", channel, account, "")
            removed, _, _ = await pipe.execute()
        return bool(removed)

    def _audit(self, pipe: Any, now: float, actor: str, action: str, channel: str,
               account: str, detail: str) -> None:
        pipe.xadd(self._k.audit, {"ts": now, "actor": actor, "action": action, "ticket": "",
                                  "before": "", "after": "",
                                  "detail": f"{channel}/{account}" + (f": {detail}" if detail
                                                                      else "")},
                  maxlen=1_000_000, approximate=True)
