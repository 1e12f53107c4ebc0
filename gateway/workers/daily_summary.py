"""Each team's daily summary (config `summary:`), sent by the workers' loop once per team and
local day, at the team's configured local time (its SLA calendar's time zone), for the day
before: exactly once across all worker processes (queue/summaries.py), retried with
back-off (models/delivery.py) until `summary.max_attempts`.

Webhook: a JSON POST (models/summary.py payload), never following redirects, signed as the
SLA notifications are (gateway/workers/notify.py):

    X-Deskgate-Timestamp: <unix seconds>
    X-Deskgate-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with webhook_secret>
    Idempotency-Key: <team>:<date>      (a retry after a lost answer carries the same key)

Email: through the relay replies leave by (email.relay), one mail per address, whose
Message-ID is fixed by team, date and address, so a resend is recognisably the same mail."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import redis.asyncio as aioredis

from deskgate.connectors.send.base import Rejected, RetryLater
from deskgate.connectors.send.email import EmailAccount
from deskgate.connectors.send.registry import SENDERS
from deskgate.gateway.config import Config
from deskgate.models import summary as sm
from deskgate.models.delivery import next_attempt_delay
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, Recipient
from deskgate.models.reports import Filter
from deskgate.models.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from deskgate.queue.access_tokens import RedisAccessTokens
from deskgate.queue.keys import Keys
from deskgate.queue.rollups import Rollups
from deskgate.queue.summaries import SummaryMarks

log = logging.getLogger("deskgate.summary")


class DeliveryFailed(Exception):
    """A target did not take the summary (the message says which and why)."""


def previous_day(now: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(now, zone).date() - timedelta(days=1)


class DailySummary:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config, rollups: Rollups,
                 owner: str) -> None:
        self._cfg = config.summary
        self._relay = config.email.relay
        self._rollups = rollups
        self._owner = owner
        self.marks = SummaryMarks(client, keys)
        self._tokens = RedisAccessTokens(client, keys, owner)
        self._settled: set[tuple[str, str]] = set()   # (team, day) sent or given up

    def zone(self, team: str) -> ZoneInfo:
        found = self._rollups.config.teams.get(team)
        return ZoneInfo(found.calendar.timezone) if found else ZoneInfo("UTC")

    async def build(self, team: str, day: date, now: float) -> sm.Figures:
        """The figures of `team` for the local day `day`."""
        zone = self.zone(team)
        start = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()
        f = Filter(team=team)
        ro = self._rollups
        return sm.figures(team, day, str(zone), await ro.sums("m", start, end, f),
                          await ro.sums("x", start, end, f), await ro.sums("t", start, end, f),
                          await ro.open_tickets(), now)

    async def tick(self, now: float, http: aiohttp.ClientSession) -> int:
        """Send the summaries that are due; returns how many went out."""
        sent = 0
        for team, target in self._cfg.teams.items():
            zone = self.zone(team)
            local = datetime.fromtimestamp(now, zone)
            day = previous_day(now, zone)
            if (local.hour * 60 + local.minute < target.minute_of_day
                    or (team, day.isoformat()) in self._settled):
                continue
            sent += await self.send(team, day, now, http)
        return sent

    async def send(self, team: str, day: date, now: float, http: aiohttp.ClientSession, *,
                   by_hand: bool = False) -> int:
        """Deliver one summary unless it went out already or another process is on it;
        returns 1 when it went out now. `by_hand` (the CLI) starts a given-up one over."""
        target = self._cfg.teams.get(team)
        if target is None:
            raise KeyError(f"no summary configured for team {team!r} (summary.teams)")
        iso = day.isoformat()
        turn = self._cfg.timeout_seconds * (2 + len(target.email)) + 30
        outcome, attempt = await self.marks.claim(team, iso, self._owner, now, turn,
                                                  self._cfg.max_attempts, by_hand=by_hand)
        if outcome != "go":
            if outcome in ("sent", "failed"):
                self._settled.add((team, iso))      # the tick stops asking Redis today
            return 0
        fig = await self.build(team, day, now)
        try:
            await self._deliver(team, target, fig, http)
        except DeliveryFailed as exc:
            delay = next_attempt_delay(attempt, None)
            await self.marks.retry_at(team, iso, now + delay, str(exc))
            if attempt >= self._cfg.max_attempts:
                log.error("the %s summary of team %s is given up after %d attempts (%s); send "
                          "it with `deskgate reports summary --team %s --date %s --send` once "
                          "the target works", iso, team, attempt, exc, team, iso)
            else:
                log.warning("the %s summary of team %s: attempt %d failed (%s); next in "
                            "%.0f s", iso, team, attempt, exc, delay)
            return 0
        await self.marks.finish(team, iso, time.time())
        self._settled.add((team, iso))
        log.info("the %s summary of team %s was sent", iso, team)
        return 1

    async def _deliver(self, team: str, target: sm.TeamSummary, fig: sm.Figures,
                       http: aiohttp.ClientSession) -> None:
        done = await self.marks.delivered(team, fig.date)
        errors = []
        if target.webhook_url and "webhook" not in done:
            try:
                await self._post(target, fig, http)
                await self.marks.mark_target(team, fig.date, "webhook", time.time())
            except DeliveryFailed as exc:
                errors.append(str(exc))
        for address in target.email:
            if f"email:{address}" in done:
                continue
            try:
                await self._mail(address, target, fig, http)
                await self.marks.mark_target(team, fig.date, f"email:{address}", time.time())
            except DeliveryFailed as exc:
                errors.append(str(exc))
        if errors:
            raise DeliveryFailed("; ".join(errors))

    async def _post(self, target: sm.TeamSummary, fig: sm.Figures,
                    http: aiohttp.ClientSession) -> None:
        body = json.dumps(sm.payload(fig, target.language), ensure_ascii=False).encode()
        ts = str(int(time.time()))
        try:
            # never follow a redirect: the receiver could steer our signed POST inward
            async with http.post(target.webhook_url, data=body, allow_redirects=False,
                                 timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_seconds),
                                 headers={"Content-Type": "application/json",
                                          TIMESTAMP_HEADER: ts,
                                          SIGNATURE_HEADER: sign(target.webhook_secret,
                                                                       ts, body),
                                          "Idempotency-Key": sm.idempotency_key(fig.team,
                                                                                fig.date)}) as r:
                if not 200 <= r.status < 300:
                    raise DeliveryFailed(f"webhook answered HTTP {r.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"webhook: {type(exc).__name__}: {exc}") from exc

    async def _mail(self, address: str, target: sm.TeamSummary, fig: sm.Figures,
                    http: aiohttp.ClientSession) -> None:
        if self._relay is None:
            raise DeliveryFailed("no SMTP relay for the summary email: set email.relay")
        subject, text = sm.render(fig, target.language)
        mail = OutboundMessage(
            reply_id=f"summary-{fig.team}-{fig.date}-{address}", ticket_id="",
            recipient=Recipient(Channel.EMAIL, "summary", address), text=text, author="auto",
            created_at=datetime.now(UTC), subject=subject)
        sender = (self._cfg.from_address or self._relay.default_from
                  or next(iter(self._relay.from_addresses.values()), ""))
        account = EmailAccount(self._relay, sender, _no_files)
        try:
            await SENDERS["email"].send(mail, account, http, self._tokens)
        except (Rejected, RetryLater) as exc:
            raise DeliveryFailed(f"email to {address}: {exc.reason}") from exc


def _no_files(ref: str) -> bytes:
    raise Rejected(f"a summary carries no files ({ref})")
