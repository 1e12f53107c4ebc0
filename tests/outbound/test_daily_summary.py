"""The daily summary (gateway/workers/daily_summary.py): at the team's local time, yesterday's
figures go to a local webhook server that checks the HMAC signature and to the aiosmtpd relay,
once across processes; a failed target is retried with back-off without resending to the
targets that took it; `deskgate reports summary` previews it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.workers.daily_summary import DailySummary
from deskgate.models.csat import Answer
from deskgate.models.enums import Channel
from deskgate.queue.csat import Surveys
from deskgate.queue.keys import Keys
from deskgate.queue.rollups import Rollups
from deskgate.queue.sla import Sla
from deskgate.queue.work import Work
from tests.email.dnszone import DnsStandIn

from .conftest import Tickets, chat_message, relay_config
from .relay import Relay

SECRET = "summary-secret-0123456789"
ZONE = ZoneInfo("Asia/Shanghai")


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.answers = [500]          # then 200

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ts = request.headers["X-Deskgate-Timestamp"]
        want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Deskgate-Signature", ""), want):
            return web.json_response({"error": "bad signature"}, status=401)
        self.bodies.append(json.loads(body))
        self.keys.append(request.headers["Idempotency-Key"])
        return web.Response(status=self.answers.pop(0) if self.answers else 200)


@pytest.fixture
async def hook(aiohttp_server: Any) -> tuple[Hook, str]:
    h = Hook()
    app = web.Application()
    app.router.add_post("/summary", h.handle)
    server = await aiohttp_server(app)
    return h, str(server.make_url("/summary"))


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn,
           hook: tuple[Hook, str]) -> Config:
    return parse_config(relay_config(prefix, relay[0], relay[1], dns) + f"""
sla:
  teams:
    care: {{skills: [general], calendar: {{timezone: Asia/Shanghai}}}}
summary:
  teams:
    care: {{at: "08:30", language: en, webhook_url: "{hook[1]}", webhook_secret: "{SECRET}",
            email: [ops@shop.example.cn]}}
""")


async def yesterday_of(tickets: Tickets, aclient: aioredis.Redis, keys: Keys,
                       config: Config, today_0830: float) -> str:
    """Two tickets opened yesterday (local), both resolved, one rated 4."""
    base = today_0830 - 86400 + 3600            # yesterday 09:30
    sla = Sla(aclient, keys, config.sla)
    first = ""
    for i, user in enumerate(("a1", "a2")):
        at = base + i * 600
        tid = await tickets.open(chat_message(Channel.TELEGRAM, user, at=at))
        await sla.start([tid], at)
        assert (await Work(aclient, keys).resolve(tid, "ann", privileged=False,
                                                  now=at + 900)).outcome == "ok"
        first = first or tid
    surveys = Surveys(aclient, keys)
    assert await surveys.offer(first, "ann", base + 1000)
    assert await surveys.answer(first, Answer(4, "ok"), base + 2000) == "ok"
    await Rollups(aclient, keys, config.sla).catch_up()
    return datetime.fromtimestamp(base, ZONE).date().isoformat()


async def test_sent_once_signed_retried_and_by_email(
        aclient: aioredis.Redis, keys: Keys, config: Config, tickets: Tickets,
        hook: tuple[Hook, str], relay: tuple[Relay, Path]) -> None:
    local = datetime.now(ZONE).replace(hour=8, minute=30, second=0, microsecond=0)
    t = local.timestamp()
    day = await yesterday_of(tickets, aclient, keys, config, t)
    rollups = Rollups(aclient, keys, config.sla)
    one = DailySummary(aclient, keys, config, rollups, "w1")
    two = DailySummary(aclient, keys, config, rollups, "w2")
    h = hook[0]
    async with aiohttp.ClientSession() as http:
        assert await one.tick(t - 60, http) == 0 and not h.bodies     # before 08:30 local
        assert await one.tick(t + 5, http) == 0                      # the webhook said 500
        assert len(h.bodies) == 1 and len(relay[0].received) == 1
        assert await two.tick(t + 6, http) == 0                      # back-off: nobody yet
        assert await two.tick(t + 3600, http) == 1                   # retried, by another
        assert await one.tick(t + 7200, http) == 0                   # sent: never again
        assert await two.tick((local + timedelta(hours=8)).timestamp(), http) == 0
    assert len(h.bodies) == 2 and len(relay[0].received) == 1       # the mail went once
    assert h.keys == [f"care:{day}"] * 2
    figures = h.bodies[-1]["figures"]
    assert (figures["team"], figures["date"], figures["created"], figures["resolved"]) == \
        ("care", day, 2, 2)
    assert (figures["csat_answers"], figures["csat_mean"]) == (1, 4.0)
    assert figures["top_topics"] == [["other", 2]]
    mail = relay[0].received[0]
    assert mail.rcpt_tos == ["ops@shop.example.cn"]
    assert str(mail.message["Subject"]) == f"Daily summary, team care, {day}"
    assert "Tickets: 2 new, 2 resolved" in mail.message.get_body().get_content()  # type: ignore[union-attr]
    assert mail.message["Auto-Submitted"] == "auto-generated"


async def test_the_chinese_text_and_a_day_nobody_worked(
        aclient: aioredis.Redis, keys: Keys, config: Config) -> None:
    from deskgate.models.summary import render

    rollups = Rollups(aclient, keys, config.sla)
    summary = DailySummary(aclient, keys, config, rollups, "w1")
    day = datetime(2026, 1, 1, tzinfo=ZONE).date()
    fig = await summary.build("care", day, time.time())
    assert (fig.created, fig.csat_mean, fig.top_topics) == (0, None, ())
    subject, body = render(fig, "zh")
    assert subject == "care 团队日报（2026-01-01）"
    assert "满意率 暂无" in body and "热门主题：无" in body


def test_bad_summary_config_says_what_to_fix() -> None:
    from deskgate.gateway.config import ConfigError

    with pytest.raises(ConfigError, match="webhook_secret of at least 16"):
        parse_config('summary: {teams: {care: {webhook_url: "https://x.example/h"}}}')
    with pytest.raises(ConfigError, match="HH:MM"):
        parse_config('summary: {teams: {care: {at: "8:30", email: [a@b.c]}}}')
