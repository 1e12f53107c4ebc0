"""Delivers manager notifications (SLA warnings and breaches) from the {p}notify stream to each
team's webhook, signed with HMAC-SHA256 so the receiver can trust them:

    X-Deskgate-Timestamp: <unix seconds>
    X-Deskgate-Signature: sha256=<hex HMAC of "<timestamp>.<body>" with the team's secret>

The stream is read as a consumer group and an entry is acknowledged only after a 2xx; a failed
delivery is retried after RETRY_IDLE_MS (by any worker), and after MAX_ATTEMPTS it is moved to
{p}notify:dead rather than dropped. A redirect (3xx) is a failed delivery, never followed."""

from __future__ import annotations

import json
import logging
import time

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from deskgate.models.sla import SlaConfig
from deskgate.models.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from deskgate.queue.keys import Keys

log = logging.getLogger("deskgate.notify")

GROUP = "notify"
RETRY_IDLE_MS = 30_000
MAX_ATTEMPTS = 8
TIMEOUT = aiohttp.ClientTimeout(total=10)


class Notifier:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: SlaConfig,
                 consumer: str) -> None:
        self._r = client
        self._k = keys
        self.config = config     # replaced when an admin changes the teams
        self._consumer = consumer
        self._ready = False

    async def _ensure_group(self) -> None:
        if self._ready:
            return
        try:
            await self._r.xgroup_create(self._k.notify, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def deliver(self, session: aiohttp.ClientSession, count: int = 100) -> int:
        """Deliver what is new plus what failed long enough ago; returns how many were sent."""
        await self._ensure_group()
        fresh = await self._r.xreadgroup(GROUP, self._consumer, {self._k.notify: ">"},
                                         count=count)
        entries = [e for _, batch in fresh for e in batch]
        # Redis 6.2 answers [cursor, entries], 7 adds deleted ids: take the entries
        retry = (await self._r.xautoclaim(self._k.notify, GROUP, self._consumer,
                                          RETRY_IDLE_MS, count=count))[1]
        sent = 0
        for eid, fields in [*entries, *retry]:
            if await self._send(session, eid, {k.decode(): v.decode() for k, v in fields.items()}):
                sent += 1
        return sent

    async def _send(self, session: aiohttp.ClientSession, eid: bytes,
                    event: dict[str, str]) -> bool:
        team = self.config.teams.get(event.get("team", ""))
        if team is None or not team.webhook_url:
            # nothing to send to: the event stays readable in the stream and in review
            await self._r.xack(self._k.notify, GROUP, eid)
            return False
        body = json.dumps({"event": f"sla.{event.get('kind')}", "ticket": event.get("ticket"),
                           "timer": event.get("timer"), "team": event.get("team"),
                           "priority": event.get("priority"), "assignee": event.get("assignee"),
                           "deadline": float(event.get("deadline") or 0),
                           "at": float(event.get("ts") or 0)}, ensure_ascii=False).encode()
        ts = str(int(time.time()))
        try:
            # A redirect is not followed: the receiver could steer our signed POST to an
            # address of our network it cannot reach itself (an internal service, metadata).
            async with session.post(team.webhook_url, data=body, timeout=TIMEOUT,
                                    allow_redirects=False, headers={
                    "Content-Type": "application/json", TIMESTAMP_HEADER: ts,
                    SIGNATURE_HEADER: sign(team.webhook_secret, ts, body)}) as resp:
                ok = 200 <= resp.status < 300
                reason = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, reason = False, str(exc) or type(exc).__name__
        if ok:
            await self._r.xack(self._k.notify, GROUP, eid)
            return True
        pending = await self._r.xpending_range(self._k.notify, GROUP, min=eid, max=eid, count=1)
        attempts = pending[0]["times_delivered"] if pending else MAX_ATTEMPTS
        log.warning("notification %s to team %s failed (%s), attempt %d", eid.decode(),
                    event.get("team"), reason, attempts)
        if attempts >= MAX_ATTEMPTS:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.xadd(self._k.notify_dead, {**event, "reason": reason}, maxlen=100_000)
                pipe.xack(self._k.notify, GROUP, eid)
                await pipe.execute()
        return False
