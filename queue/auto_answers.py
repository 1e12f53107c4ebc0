"""Auto-answers in Redis: the admins' lookup configurations ({p}autoanswers: "<account>/<topic>"
-> JSON, with a revision counter every process reloads on), the stream that carries new tickets
from the triage worker to the auto-answer stage (group "autoanswer"), and that stage's outcome
(lua/auto_answer.lua: answered or routed, atomically with the entry's acknowledgement)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from deskgate.models.auto_answer import AutoAnswerRecord, LookupConfig
from deskgate.models.codec import encode
from deskgate.models.outbound import OutboundMessage
from deskgate.queue.audit import work_script
from deskgate.queue.keys import Keys
from deskgate.queue.replies import text as _s
from deskgate.queue.stream import GroupStream

log = logging.getLogger("deskgate.auto_answers")

GROUP = "autoanswer"
MAX_CONFIGS = 1000
RELOAD_SECONDS = 1.0            # how stale a process's copy of the configurations may be
STREAM_MAXLEN = 100_000


def _decoded(config_id: str, raw: bytes | str) -> LookupConfig | None:
    """A stored configuration, or None (logged) when it no longer passes today's rules — one
    saved with a plain http:// URL before https was required: it is not used (the customer's
    phones and emails are not sent in clear) until an admin saves it again, and the others
    keep working."""
    try:
        return msgspec.json.decode(raw, type=LookupConfig)
    except msgspec.ValidationError as exc:
        log.warning("auto-answer %s is skipped: %s; an admin must save it again (PUT "
                    "/api/v1/auto-answers/%s)", config_id, exc, config_id)
        return None


class AutoAnswerStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._rev = ""                  # the revision the cache holds ("": none yet)
        self._cached: dict[str, LookupConfig] = {}
        self._checked = 0.0
        self._outcome = work_script(client, "auto_answer")

    # --- configuration ----------------------------------------------------------------

    async def put(self, config_id: str, config: LookupConfig) -> bool:
        """Create or replace (the stored secret is kept when `config` has none); False when
        the store is full and this would be a new one."""
        existing = await self.get(config_id)
        if existing is None and await self._r.hlen(self._k.auto_answers) >= MAX_CONFIGS:
            return False
        if not config.secret and existing is not None:
            config = msgspec.structs.replace(config, secret=existing.secret)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.auto_answers, config_id, encode(config))
            pipe.incr(self._k.auto_answers_rev)
            await pipe.execute()
        return True

    async def get(self, config_id: str) -> LookupConfig | None:
        raw = await self._r.hget(self._k.auto_answers, config_id)
        return _decoded(config_id, raw) if raw else None

    async def delete(self, config_id: str) -> bool:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k.auto_answers, config_id)
            pipe.incr(self._k.auto_answers_rev)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def all(self) -> dict[str, LookupConfig]:
        raw = await self._r.hgetall(self._k.auto_answers)
        found = {_s(k): _decoded(_s(k), v) for k, v in sorted(raw.items())}
        return {k: c for k, c in found.items() if c is not None}

    async def current(self) -> dict[str, LookupConfig]:
        """The enabled configurations, re-read when an admin changed them (checked at most
        once per RELOAD_SECONDS: the triage worker asks once per batch)."""
        now = time.monotonic()
        if now - self._checked >= RELOAD_SECONDS:
            self._checked = now
            rev = _s(await self._r.get(self._k.auto_answers_rev)) or "0"
            if rev != self._rev:
                self._cached = {k: c for k, c in (await self.all()).items() if c.enabled}
                self._rev = rev
        return self._cached

    # --- the stage --------------------------------------------------------------------

    async def feed(self, items: Sequence[tuple[str, str]]) -> None:
        """(ticket id, message id) of new tickets whose topic has an auto-answer."""
        if not items:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for tid, mid in items:
                pipe.xadd(self._k.auto_answer_stream, {"t": tid, "m": mid},
                          maxlen=STREAM_MAXLEN, approximate=True)
            await pipe.execute()

    def reader(self, consumer: str) -> GroupStream:
        return GroupStream(self._r, self._k.auto_answer_stream, GROUP, consumer)

    async def answer(self, record: AutoAnswerRecord, reply: OutboundMessage, audit_detail: str,
                     entry_id: str, now: float) -> tuple[str, str]:
        """("answered", reply id) | ("replay", state) | ("missing", "") | ("taken", status, or
        "wrote" when the customer wrote again)."""
        k, tid = self._k, reply.ticket_id
        return await self._run("answer", tid, record, audit_detail, entry_id, now,
                               [k.reply(reply.reply_id), k.ticket_replies(tid), k.outbox,
                                k.ticket_labels(tid)], [reply.reply_id, encode(reply)])

    async def route(self, ticket_id: str, record: AutoAnswerRecord, entry_id: str,
                    now: float) -> tuple[str, str]:
        return await self._run("route", ticket_id, record, record.reason, entry_id, now, [], [])

    async def _run(self, op: str, tid: str, record: AutoAnswerRecord, detail: str,
                   entry_id: str, now: float, keys: list[str],
                   args: list[str | bytes]) -> tuple[str, str]:
        outcome, value = await self._outcome(
            keys=[self._k.ticket(tid), self._k.auto_answer_stream, *keys],
            args=[self._k.p, op, tid, now, entry_id, GROUP, encode(record), detail[:4000],
                  *args])
        return _s(outcome), _s(value)
