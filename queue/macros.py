"""The admin's macros, kept in one hash {p}macros: id -> JSON (models/macros.py)."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from deskgate.models.codec import encode
from deskgate.models.macros import Macro
from deskgate.queue.keys import Keys
from deskgate.queue.replies import text as _s

MAX_MACROS = 2000


class MacroStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def put(self, macro_id: str, macro: Macro) -> bool:
        """Create or replace; False when the store is full and this would be a new one."""
        if (not await self._r.hexists(self._k.macros, macro_id)
                and await self._r.hlen(self._k.macros) >= MAX_MACROS):
            return False
        await self._r.hset(self._k.macros, macro_id, encode(macro))
        return True

    async def get(self, macro_id: str) -> Macro | None:
        raw = await self._r.hget(self._k.macros, macro_id)
        return msgspec.json.decode(raw, type=Macro) if raw else None

    async def delete(self, macro_id: str) -> bool:
        return bool(await self._r.hdel(self._k.macros, macro_id))

    async def all(self) -> dict[str, Macro]:
        raw = await self._r.hgetall(self._k.macros)
        return {_s(k): msgspec.json.decode(v, type=Macro) for k, v in sorted(raw.items())}
