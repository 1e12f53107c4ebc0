"""The live work configuration — teams (skills, managers, business-hours calendars,
escalation, notification webhook) and SLA policies: the admin's stored document if there is
one, else the config file's `work:` section. Same pattern as the routing table
(queue/routing.py): a validated WorkConfig stored as JSON with a revision, and every process
re-reads it within REFRESH_SECONDS of a change, without a restart."""

from __future__ import annotations

import time

import msgspec
import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.sla import WorkConfig

REFRESH_SECONDS = 1.0


class WorkError(ValueError):
    pass


def parse_work(data: bytes | str, previous: WorkConfig | None = None) -> WorkConfig:
    """JSON or YAML text -> a validated WorkConfig; WorkError names the offending field.
    A team with a webhook_url but no webhook_secret keeps `previous`'s secret for that team
    (secrets are never shown, so an edited document comes back without them)."""
    import yaml  # only the admin paths parse YAML

    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise WorkError(f"not valid JSON or YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise WorkError("the SLA document is an object with `sla` (policies) and `teams`")
    teams = raw.get("teams")
    if previous is not None and isinstance(teams, dict):
        for name, team in teams.items():
            prior = previous.teams.get(name) if isinstance(name, str) else None
            if (isinstance(team, dict) and team.get("webhook_url") and prior
                    and not team.get("webhook_secret") and prior.webhook_secret):
                team["webhook_secret"] = prior.webhook_secret
    try:
        return msgspec.convert(raw, type=WorkConfig)
    except msgspec.ValidationError as exc:
        raise WorkError(str(exc)) from exc


class WorkStore:
    def __init__(self, client: aioredis.Redis, keys: Keys, fallback: WorkConfig) -> None:
        self._r = client
        self._k = keys
        self.fallback = fallback
        self._config = fallback
        self._rev: bytes | None = None
        self._checked = float("-inf")

    async def current(self, *, fresh: bool = False) -> WorkConfig:
        now = time.monotonic()
        if not fresh and now - self._checked < REFRESH_SECONDS:
            return self._config
        self._checked = now
        rev, raw = await self._r.hmget(self._k.work, ["rev", "json"])
        if rev != self._rev:
            self._config = msgspec.json.decode(raw, type=WorkConfig) if raw else self.fallback
            self._rev = rev
        return self._config

    async def source(self) -> dict[str, str]:
        f = await self._r.hgetall(self._k.work)
        d = {k.decode(): v.decode() for k, v in f.items() if k != b"json"}
        return d or {"source": "config file"}

    async def put(self, config: WorkConfig, actor: str) -> int:
        now = time.time()
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hincrby(self._k.work, "rev", 1)
            pipe.hset(self._k.work, mapping={
                "json": msgspec.json.encode(config), "updated_by": actor, "updated_at": now,
                "source": "admin API"})
            pipe.xadd(self._k.audit, {"ts": now, "actor": actor, "action": "sla_updated",
                                      "ticket": "", "before": "", "after": "",
                                      "detail": f"{len(config.sla)} policies: "
                                                f"{', '.join(p.name for p in config.sla)}; "
                                                f"{len(config.teams)} teams"},
                      maxlen=1_000_000, approximate=True)
            rev, *_ = await pipe.execute()
        self._checked = float("-inf")
        return int(rev)

    async def reset(self, actor: str) -> None:
        """Drop the stored document: the config file's applies again."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(self._k.work)
            pipe.xadd(self._k.audit, {"ts": time.time(), "actor": actor, "action": "sla_reset",
                                      "ticket": "", "before": "", "after": "",
                                      "detail": "config file applies"},
                      maxlen=1_000_000, approximate=True)
            await pipe.execute()
        self._checked = float("-inf")
