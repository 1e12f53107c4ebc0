"""The report rollups in Redis: folding the audit stream into hour and day counters, reading
them back, rebuilding them.

The consumer reads {p}audit from its own position ({p}rpt:pos) rather than through a
consumer group: the position moves in the same Lua step as the counters
(lua/rollup_apply.lua), so an entry is folded exactly once even when a process dies between
the read and the write, or two processes run the consumer at once (the second one's batch is
refused and it reads again). A group's pending list and acknowledgements could not give that:
an acknowledgement is a separate command from the counters it vouches for.

The rules (what each entry counts) are pure, in models/rollup.py. A ticket's dimensions are
captured from the ticket when the consumer first sees its opening (triage's topic changes as
messages arrive, escalation raises the priority) and kept under {p}rpt:opened:{id}, which a
rebuild keeps, so rebuilding gives the figures the live consumer gave."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis

from deskgate.models.reports import Filter
from deskgate.models.rollup import (
    HEAT,
    HIST,
    MAIN,
    PROJECTIONS,
    SEP,
    Dims,
    Folded,
    Incr,
    Opened,
    Predicted,
    TicketFold,
    fold,
    opened,
    team_level,
)
from deskgate.models.sla import Calendar, SlaConfig, clock
from deskgate.queue.keys import Keys
from deskgate.queue.replies import scored, text_hash
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import lua

log = logging.getLogger("deskgate.reports")

HOUR, DAY = 3600, 86400
HOUR_TTL = 40 * DAY                 # hourly detail for the last month (heat maps, load)
DAY_TTL = 400 * DAY                 # daily counters for a year and a bit
FOLD_TTL = 120 * DAY                # an open ticket untouched this long stops being followed
CLOSED_FOLD_TTL = 30 * DAY          # a resolved one: a reopen after that counts nowhere
OPENED_TTL = 60 * DAY               # longer than the audit stream keeps its entries
BATCH = 1000
REBUILDING = "rebuilding"           # the position while a rebuild clears the rollups
MONDAY = 4                          # 1970-01-05, the first Monday: weeks count from it
OPENING_ACTIONS = frozenset({"created"})

MAX_CACHED_FIELDS = 400_000         # summed bucket fields a process keeps (~50 MB)


class _BucketCache(OrderedDict[tuple[str, str], tuple[str, dict[str, float]]]):
    """(bucket key, filter) -> (bucket version, its filtered counters), least recently used
    first, bounded by the number of fields held. Keyed by the full key name, so deployments
    (prefixes) sharing a process never meet."""

    fields = 0

    def put(self, key: tuple[str, str], version: str, part: dict[str, float]) -> None:
        old = self.pop(key, None)
        if old is not None:
            self.fields -= len(old[1])
        self[key] = (version, part)
        self.fields += len(part)
        while self.fields > MAX_CACHED_FIELDS and len(self) > 1:
            _, (_, dropped) = self.popitem(last=False)
            self.fields -= len(dropped)


_bucket_cache = _BucketCache()
_fold_dec = msgspec.json.Decoder(TicketFold)
_opened_dec = msgspec.json.Decoder(Opened)
_enc = msgspec.json.Encoder()


class Rollups:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: SlaConfig) -> None:
        self._r = client
        self._k = keys
        self._calendars: dict[tuple[str, str], Calendar] = {}
        self.config = config
        self._apply = client.register_script(lua("rollup_apply"))
        self._sum = client.register_script(lua("rollup_sum"))
        self._team_since: float | None = None

    @property
    def config(self) -> SlaConfig:
        return self._config

    @config.setter
    def config(self, value: SlaConfig) -> None:
        if value is not getattr(self, "_config", None):
            self._config, self._calendars = value, {}

    @property
    def namespace(self) -> str:
        """The key prefix these rollups live under (caches keep deployments apart by it)."""
        return self._k.p

    def _calendar(self, policy: str, team: str) -> Calendar:
        found = self._calendars.get((policy, team))
        if found is None:
            p = next((x for x in self.config.sla if x.name == policy), self.config.sla[-1])
            found = self._calendars[(policy, team)] = clock(p, self.config.teams.get(team))
        return found

    async def _snapshot(self, ticket_ids: Sequence[str]) -> dict[str, Opened]:
        """Opening facts of new tickets: the stored snapshot, else read from the ticket."""
        if not ticket_ids:
            return {}
        raws = await self._r.mget([self._k.rpt_opened(t) for t in ticket_ids])
        out = {t: _opened_dec.decode(r) for t, r in zip(ticket_ids, raws, strict=True) if r}
        missing = [t for t in ticket_ids if t not in out]
        async with self._r.pipeline(transaction=False) as pipe:
            for t in missing:
                pipe.hmget(self._k.ticket(t), ["team", "skill", "channel", "priority",
                                               "sla_policy", "triage", "review_reasons"])
            rows = await pipe.execute()
        for t, row in zip(missing, rows, strict=True):
            team, skill, channel, priority, policy, triage, review = (_s(v) for v in row)
            tri: dict[str, Any] = json.loads(triage) if triage else {}
            out[t] = Opened(
                dims=Dims(team=team, skill=skill, channel=channel, priority=priority,
                          topic=str(tri.get("topic", "")), policy=policy),
                predicted=Predicted(topic=str(tri.get("topic", "")),
                                    priority=str(tri.get("priority", "")),
                                    sentiment=str(tri.get("sentiment", "")),
                                    model=str(tri.get("model_version", ""))),
                in_review=bool(review))
        return out

    async def position(self) -> str:
        return _s(await self._r.get(self._k.rpt_pos))

    async def step(self, batch: int = BATCH, *, rebuilding: bool = False) -> int:
        """Fold the next batch of audit entries; returns how many were folded (0: caught
        up, another process folded this batch first, or a rebuild is clearing the rollups)."""
        pos = await self.position()
        if pos == REBUILDING and not rebuilding:
            log.warning("report rollups are being rebuilt; if no `deskgate reports rebuild` "
                        "is running, run it again")
            return 0
        start = "" if pos == REBUILDING else pos
        entries = await self._r.xrange(self._k.audit, min=f"({start}" if start else "-",
                                       max="+", count=batch)
        if not entries:
            return 0
        rows = [(_s(eid), text_hash(f)) for eid, f in entries]
        tickets = sorted({f["ticket"] for _, f in rows if f.get("ticket")})
        raws = await self._r.mget([self._k.rpt_fold(t) for t in tickets]) if tickets else []
        states: dict[str, TicketFold | None] = {
            t: _fold_dec.decode(r) if r else None for t, r in zip(tickets, raws, strict=True)}
        new = sorted({f["ticket"] for _, f in rows
                      if f.get("action") in OPENING_ACTIONS and f.get("ticket")
                      and states.get(f["ticket"]) is None})
        facts = await self._snapshot(new)
        incrs: list[Incr] = []
        for _, f in rows:
            tid = f.get("ticket", "")
            state = states.get(tid)
            ts = float(f.get("ts") or 0)
            result: Folded | None = None
            if state is None and tid in facts and f.get("action") in OPENING_ACTIONS:
                result = opened(ts, facts[tid])
            elif state is not None:
                result = fold(state, ts, f.get("actor", ""), f.get("action", ""),
                              f.get("before", ""), f.get("after", ""), f.get("detail", ""),
                              self._calendar)
            if result is not None:
                states[tid] = result.state
                incrs.extend(result.incrs)
        await self._team_projections_since(pos, float(rows[0][1].get("ts") or 0))
        incrs += [t for t in map(team_level, incrs) if t is not None]
        ops = _Ops()
        for i in incrs:
            for gran, n in bucket_numbers(i.ts):
                ops.incr(self._k.rpt_bucket(i.proj, gran, n), i.field, i.n,
                         HOUR_TTL if gran == "h" else DAY_TTL)
        for tid in new:
            ops.set(self._k.rpt_opened(tid), _enc.encode(facts[tid]).decode(), OPENED_TTL)
        for tid, st in states.items():
            if st is None:
                continue
            ops.set(self._k.rpt_fold(tid), _enc.encode(st).decode(),
                    FOLD_TTL if st.is_open else CLOSED_FOLD_TTL)
            member = f"{tid}|{st.dims.main()}"
            if st.is_open:
                ops.zadd(self._k.rpt_open, st.opened, member)
            else:
                ops.zrem(self._k.rpt_open, member)
        last = rows[-1][0]
        done = int(await self._apply(keys=[self._k.rpt_pos, *ops.keys],
                                     args=[pos, last, ops.json()]))
        if not done:
            log.info("report rollups: another process folded from %s first; reading again",
                     pos or "the start")
            return 0
        return len(rows)

    async def _team_projections_since(self, pos: str, first_ts: float) -> None:
        """Note when the team projections started to be written: from the start (0) on a new
        installation or a rebuild, else from this batch (an installation that had rollups
        before them: reports read them only for ranges after that, until a rebuild)."""
        if self._team_since is not None:
            return
        since = 0.0 if pos in ("", REBUILDING) else first_ts
        await self._r.set(self._k.rpt_team_since, since, nx=True)
        self._team_since = float(_s(await self._r.get(self._k.rpt_team_since)) or since)

    async def team_projections_cover(self, start: float) -> bool:
        """Whether the team projections hold every count from `start` on."""
        if self._team_since is None:
            raw = _s(await self._r.get(self._k.rpt_team_since))
            if not raw:
                return False
            self._team_since = float(raw)
        return self._team_since <= start

    async def catch_up(self, batch: int = BATCH, max_batches: int = 0, *,
                       rebuilding: bool = False) -> int:
        """Fold until caught up (or `max_batches` batches); returns how many were folded."""
        total = done = 0
        while n := await self.step(batch, rebuilding=rebuilding):
            total, done = total + n, done + 1
            if done == max_batches:
                break
        return total

    async def rebuild(self, batch: int = BATCH) -> int:
        """Clear the rollups (not the opening snapshots) and fold the whole audit stream
        again; returns how many entries were folded. The position is set to a marker first:
        a worker's batch in flight is then refused (its position moved), and workers fold
        nothing until this rebuild's first batch moves the position on."""
        await self._r.set(self._k.rpt_pos, REBUILDING)
        for pattern in (self._k.rpt_fold_pattern, *map(self._k.rpt_pattern, PROJECTIONS)):
            async for key in self._r.scan_iter(match=pattern, count=1000):
                await self._r.unlink(key)
        await self._r.delete(self._k.rpt_open)
        await self._r.set(self._k.rpt_team_since, 0)     # the rebuild writes them all
        self._team_since = 0.0
        return await self.catch_up(batch, rebuilding=True)

    # --- reading ----------------------------------------------------------------------

    async def sums(self, proj: str, start: float, end: float, f: Filter, *,
                   collapse: bool = False) -> dict[str, float]:
        """Counters of one projection that `f` lets through, summed over [start, end): day
        and week buckets for whole days, hours for the ragged ends. `collapse`: summed over
        every dimension too, {metric: n} (Redis does it, so only a few counters travel)."""
        if proj not in PROJECTIONS:
            raise ValueError(f"unknown projection {proj!r}")
        if proj not in (MAIN, HIST):     # channel and priority: dimensions of the main ones
            f = msgspec.structs.replace(f, channel="", priority="")
        total: dict[str, float] = {}
        for part in await self._each([self._k.rpt_bucket(proj, g, n)
                                      for g, n in buckets(start, end)],
                                     _filter_json(f, collapse=collapse)):
            for k, v in part.items():
                total[k] = total.get(k, 0.0) + v
        return total

    async def series(self, proj: str, start: float, end: float, gran: str,
                     metrics: frozenset[str], f: Filter) -> list[tuple[int, dict[str, float]]]:
        """(bucket start, {metric: n}) per hour or day bucket, for the given metrics."""
        size = HOUR if gran == "h" else DAY
        ns = range(int(start // size), int(-(-end // size)))
        parts = await self._each([self._k.rpt_bucket(proj, gran, n) for n in ns],
                                 _filter_json(f, metrics))
        return [(n * size, dict(part)) for n, part in zip(ns, parts, strict=True)]

    async def _each(self, keys: list[str], fjson: str) -> list[dict[str, float]]:
        """Each bucket's counters that the filter lets through (lua/rollup_sum.lua, in
        Redis), reusing what this process summed before of a bucket whose version has not
        moved since: a report page asks several reports of the same range, and a past
        week's bucket rarely changes, so most of a 30-day report is not read again."""
        held = [_bucket_cache.get((k, fjson)) for k in keys]
        raw = await self._sum(keys=keys, args=["each", fjson,
                                               json.dumps([h[0] if h else "" for h in held])])
        out = []
        for key, h, flat in zip(keys, held, raw, strict=True):
            version = _s(flat[0])
            if h is not None and len(flat) == 1 and version == h[0]:
                _bucket_cache.move_to_end((key, fjson))
                out.append(h[1])
                continue
            part: dict[str, float] = json.loads(flat[1]) if len(flat) > 1 else {}
            if version:
                _bucket_cache.put((key, fjson), version, part)
            out.append(part)
        return out

    async def opened_per_hour(self, teams: Sequence[str], start: float,
                              end: float) -> dict[str, dict[float, float]]:
        """{team: {hour start: tickets it opened in [start, end)}} for the staffing forecast,
        from the day buckets of the heat projection: a day's cell "w<weekday><hour>" names
        the hour within that day, so 35 days are 35 small hashes rather than 840 hourly ones,
        read once for every team."""
        days = range(int(start // DAY), int(-(-end // DAY)))
        parts = await self._each([self._k.rpt_bucket(HEAT, "d", n) for n in days],
                                 _filter_json(Filter(teams=frozenset(teams))))
        out: dict[str, dict[float, float]] = {t: {} for t in teams}
        for n, part in zip(days, parts, strict=True):
            for field, count in part.items():
                cell, _, team = field.partition(SEP)
                at = float(n * DAY + int(cell[2:]) * HOUR)
                if team in out and start <= at < end and count:
                    out[team][at] = out[team].get(at, 0.0) + count
        return out

    async def open_tickets(self) -> list[tuple[str, float]]:
        """(member "<ticket>|<team|channel|priority|policy>", opened at) of every open ticket."""
        return scored(await self._r.zrange(self._k.rpt_open, 0, -1, withscores=True))


def _filter_json(f: Filter, metrics: frozenset[str] | None = None, *,
                 collapse: bool = False) -> str:
    doc: dict[str, object] = {"team": f.team, "channel": f.channel, "priority": f.priority}
    if f.teams is not None:
        doc["teams"] = sorted(f.teams) or [""]      # [""]: no team at all, not "every team"
    if metrics is not None:
        doc |= {"metrics": sorted(metrics), "metric_only": True}
    elif collapse:
        doc["metric_only"] = True
    return json.dumps(doc, ensure_ascii=False)


def bucket_numbers(ts: float) -> tuple[tuple[str, int], ...]:
    """The hour, day and week (Monday to Sunday, UTC) an instant is counted in."""
    day = int(ts // DAY)
    return ("h", int(ts // HOUR)), ("d", day), ("w", (day - MONDAY) // 7)


def buckets(start: float, end: float) -> list[tuple[str, int]]:
    """The fewest buckets covering [start, end) on whole hours: weeks and days where they
    fit, hours at the ragged ends (a 30-day range is ~4 weeks and a few days)."""
    out: list[tuple[str, int]] = []
    h = int(start // HOUR)
    last = int(-(-end // HOUR))
    while h < last:
        day = h // 24
        if h % 24 == 0 and (day - MONDAY) % 7 == 0 and h + 7 * 24 <= last:
            out.append(("w", (day - MONDAY) // 7))
            h += 7 * 24
        elif h % 24 == 0 and h + 24 <= last:
            out.append(("d", day))
            h += 24
        else:
            out.append(("h", h))
            h += 1
    return out


class _Ops:
    """The ops of one lua/rollup_apply.lua call, with every key it touches listed once."""

    def __init__(self) -> None:
        self._idx: dict[str, int] = {}
        self.keys: list[str] = []
        self._inc: dict[tuple[int, str], float] = {}
        self._set: list[list[object]] = []
        self._zadd: list[list[object]] = []
        self._zrem: list[list[object]] = []
        self._exp: dict[int, int] = {}

    def _key(self, key: str) -> int:
        if key not in self._idx:
            self.keys.append(key)
            self._idx[key] = len(self.keys) + 1        # KEYS[1] is the position
        return self._idx[key]

    def incr(self, key: str, field: str, n: float, ttl: int) -> None:
        k = self._key(key)
        self._inc[(k, field)] = self._inc.get((k, field), 0.0) + n
        self._exp[k] = ttl

    def set(self, key: str, value: str, ttl: int) -> None:
        self._set.append([self._key(key), value, ttl])

    def zadd(self, key: str, score: float, member: str) -> None:
        self._zadd.append([self._key(key), score, member])

    def zrem(self, key: str, member: str) -> None:
        self._zrem.append([self._key(key), member])

    def json(self) -> str:
        # durations ("..._s") are floats, counters integers: a field never changes kind, or
        # HINCRBY would meet a float it cannot add to
        ints, floats = [], []
        for (k, f), n in self._inc.items():
            if f.split("|", 1)[0].endswith("_s"):
                floats.append([k, f, repr(n)])
            elif n:
                ints.append([k, f, int(n)])
        return json.dumps({"i": ints, "f": floats, "set": self._set, "zadd": self._zadd,
                           "zrem": self._zrem, "exp": [[k, t] for k, t in self._exp.items()]},
                          ensure_ascii=False)
