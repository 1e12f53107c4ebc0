"""The SLA timers in Redis: starting, pausing, resuming and sweeping them.

The rules (policies, calendars, business-time arithmetic) are in models/sla.py. Each running
clock is two members of the {p}sla:due ZSET — "<ticket>|frt|warn" and "<ticket>|frt|breach" —
scored by when they fire, so one sweep takes what is due with a single range query however many
clocks run. A pending ticket (waiting on the customer) has its clocks removed and the business
time they had left stored; when the customer answers, the clocks restart with that time left."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from deskgate.models.sla import SlaConfig, SlaPolicy, Team, clock, timers
from deskgate.queue.audit import work_script
from deskgate.queue.keys import Keys
from deskgate.queue.replies import fields
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import lua
from deskgate.queue.work import BOOSTS_JSON

SWEEP_BATCH = 1000                   # timers per script call (Lua unpack stays small)



# as lua/sla_facts.lua returns them
FACT_FIELDS = ("status", "priority", "skill", "account", "customer_id", "frt_done", "frt_due",
               "res_due", "sla_remaining", "sla_breached_frt", "sla_breached_res", "tier")


class SweepResult(msgspec.Struct, frozen=True):
    timers: int
    warnings: int
    breaches: int


class Sla:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: SlaConfig, *,
                 lease_seconds: int = 600) -> None:
        self._r = client
        self._k = keys
        self.config = config
        self._lease = lease_seconds
        self._start = work_script(client, "sla_start")
        self._resume = work_script(client, "sla_resume")
        self._sweep = work_script(client, "sla_sweep")
        self._facts_script = client.register_script(lua("sla_facts"))

    async def _facts(self, ticket_ids: Sequence[str]) -> list[dict[str, str]]:
        rows = await self._facts_script(args=[self._k.p, *ticket_ids])
        return [dict(zip(FACT_FIELDS, map(_s, row), strict=True)) for row in rows]

    def _policy_team(self, row: dict[str, str]) -> tuple[SlaPolicy, str, Team | None]:
        name, team = self.config.team_of(row["skill"])
        return (self.config.policy(row["priority"] or "P3", row["tier"], row["account"]),
                name, team)

    async def start(self, ticket_ids: Sequence[str], now: float, *, action: str = "created",
                    detail: str = "", details: Sequence[str] | None = None,
                    once: bool = True) -> int:
        """Start both clocks of new tickets (idempotent with `once`) in one call; returns
        how many started. `details` gives each ticket its own audit detail."""
        if not ticket_ids:
            return 0
        rows = await self._facts(ticket_ids)
        items: list[list[object]] = []
        # a batch shares `now`, so tickets of one policy and team share their deadlines:
        # the calendar arithmetic is done once per combination, not once per ticket
        deadlines: dict[tuple[str, str, bool], tuple[dict[str, float], dict[str, float]]] = {}
        for n, (tid, row) in enumerate(zip(ticket_ids, rows, strict=True)):
            if not row["status"]:
                continue
            policy, team_name, team = self._policy_team(row)
            combo = (policy.name, team_name, bool(row["frt_done"]))
            if combo not in deadlines:
                remaining = {"res": policy.resolution_minutes * 60}
                if not row["frt_done"]:
                    remaining["frt"] = policy.first_response_minutes * 60
                deadlines[combo] = timers(policy, team, now, remaining)
            members, dues = deadlines[combo]
            escalate_to = policy.escalation_skill or (team.escalation_skill if team else "")
            items.append([tid, members, {"sla_policy": policy.name, "team": team_name,
                                         "sla_escalate_to": escalate_to, **dues},
                          details[n] if details is not None else detail])
        if not items:
            return 0
        return int(await self._start(args=[self._k.p, now, "1" if once else "0", action,
                                           json.dumps(items, ensure_ascii=False)]))

    async def remaining(self, ticket_id: str, now: float) -> dict[str, float]:
        """Business seconds left on each running, unbreached clock (for pausing)."""
        [row] = await self._facts([ticket_id])
        policy, _, team = self._policy_team(row)
        cal = clock(policy, team)
        out = {}
        for kind in ("frt", "res"):
            due = row[f"{kind}_due"]
            if due and not row[f"sla_breached_{kind}"] and not (kind == "frt" and row["frt_done"]):
                out[kind] = cal.between(now, float(due))
        return out

    async def reopen_timers(self, ticket_id: str, now: float) -> dict[str, float]:
        """A fresh resolution clock for a reopened ticket."""
        [row] = await self._facts([ticket_id])
        policy, _, team = self._policy_team(row)
        members, _ = timers(policy, team, now, {"res": policy.resolution_minutes * 60})
        return members

    async def resume_answered(self, now: float, batch: int = 500) -> list[str]:
        """Restart the clocks of pending tickets the customer has answered."""
        ids: list[str] = []
        cursor = 0
        while True:
            cursor, chunk = await self._r.sscan(self._k.sla_paused, cursor, count=batch)
            ids += [_s(x) for x in chunk]
            if cursor == 0 or len(ids) >= 10 * batch:
                break
        if not ids:
            return []
        resumed = []
        for tid, row in zip(ids, await self._facts(ids), strict=True):
            if row["status"] == "pending":
                continue
            policy, _, team = self._policy_team(row)
            left = {k: float(v) for k, v in json.loads(row["sla_remaining"] or "{}").items()}
            members, dues = timers(policy, team, now, left)
            outcome = _s(await self._resume(args=[self._k.p, tid, now, self._lease,
                                                  json.dumps(members)]))
            if outcome == "resumed":
                if dues:
                    await self._r.hset(self._k.ticket(tid), mapping=fields(dues))
                resumed.append(tid)
        return resumed

    async def sweep(self, now: float | None = None) -> SweepResult:
        """Act on every due timer: warnings, breaches (escalation + review)."""
        now = now or time.time()
        fired = warnings = breaches = 0
        while True:
            taken, warned, breached = await self._sweep(args=[self._k.p, now, SWEEP_BATCH,
                                                              BOOSTS_JSON])
            fired, warnings, breaches = fired + taken, warnings + warned, breaches + breached
            if taken < SWEEP_BATCH:
                return SweepResult(fired, warnings, breaches)
