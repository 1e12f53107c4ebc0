"""The live routing table and the overflow state, in Redis.

The table comes from the config file; an admin may replace it through the API
(RoutingStore.put). The stored table overrides the file and every process picks it up within
REFRESH_SECONDS, without a restart. The rules themselves (rules, overflow thresholds,
`decide`) are in models/routing.py."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from deskgate.models.routing import Pressure, Route, RoutingTable
from deskgate.queue.audit import work_script
from deskgate.queue.keys import Keys
from deskgate.queue.live_document import LiveDocument
from deskgate.queue.replies import text_hash
from deskgate.queue.scripts import lua

PRESSURE_CACHE_SECONDS = 1.0


class RoutingStore(LiveDocument[RoutingTable]):
    """The live routing table (the admin's stored table if any, else the config file's) and
    the overflow state that routing reads and writes."""

    def __init__(self, client: aioredis.Redis, keys: Keys, fallback: RoutingTable) -> None:
        super().__init__(client, keys, key=keys.routing, type_=RoutingTable, fallback=fallback,
                         action="routing", describe=lambda t: f"{len(t.rules)} rules")
        self._pressure: dict[str, tuple[float, Pressure]] = {}
        self._pressure_script = client.register_script(lua("pressure"))
        self._overflow_script = work_script(client, "overflow_state")

    async def pressure(self, skill: str, now: float) -> Pressure:
        hit = self._pressure.get(skill)
        if hit and time.monotonic() - hit[0] < PRESSURE_CACHE_SECONDS:
            return hit[1]
        cap, held, oldest, depth = await self._pressure_script(
            keys=[self._k.skill_agents(skill)], args=[self._k.p, skill, now])
        p = Pressure(skill, int(cap), int(held), float(oldest), int(depth))
        self._pressure[skill] = (time.monotonic(), p)
        return p

    async def place(self, route: Route, now: float, table: RoutingTable) -> Route:
        """Apply overflow: follow the backup chain while a skill is under pressure."""
        current = route
        for _ in range(len(table.overflow) + 1):
            ov = table.overflow.get(current.skill)
            if ov is None:
                return current
            p = await self.pressure(current.skill, now)
            over = (p.load >= ov.max_load
                    or (ov.max_wait_minutes > 0 and p.oldest_wait > ov.max_wait_minutes * 60))
            calm = (p.load < ov.release_load
                    and (ov.max_wait_minutes <= 0 or p.oldest_wait <= ov.max_wait_minutes * 60))
            reason = json.dumps({"load": round(p.load, 3), "oldest_wait": round(p.oldest_wait),
                                 "backup": ov.backup})
            active = await self._overflow_script(keys=[self._k.overflow], args=[
                self._k.p, current.skill, "1" if over else "0", "1" if calm else "0", now,
                reason])
            if not int(active):
                return current
            current = Route(ov.backup, current.level, current.rule,
                            route.overflowed_from or route.skill)
        return current

    async def overflowing(self) -> dict[str, float]:
        """Skills currently spilling to their backup -> since when."""
        overflow = text_hash(await self._r.hgetall(self._k.overflow))
        return {k: float(v) for k, v in overflow.items()}
