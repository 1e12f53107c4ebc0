"""The satisfaction survey over the customer's channel (gateway/workers/surveys.py): resolve ->
the Telegram stand-in receives the survey once, whatever is replayed -> the customer types a
score back -> the ticket stays resolved, the answer is on it and in the CSAT report. Email
surveys go through the relay; opted-out customers, accounts with surveys off and unverified
mail get none."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.workers.surveys import SurveyStage, survey_reply_id
from deskgate.models.enums import Channel
from deskgate.models.message import InboundMessage, SenderAuth
from deskgate.models.reports import Filter, csat
from deskgate.queue.audit import AuditLog
from deskgate.queue.csat import Surveys
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from deskgate.queue.rollups import Rollups
from deskgate.queue.sla import Sla
from deskgate.queue.work import Work
from tests.email.dnszone import DnsStandIn
from tests.send.conftest import StandIn, standin  # noqa: F401  (the stand-in fixture)
from tests.send.test_telegram import BOT, routes

from .conftest import Tickets, chat_message, email_message, relay_config
from .relay import Relay

PUBLIC = "https://help.example.cn"


@pytest.fixture
async def telegram(standin: Callable[..., Awaitable[StandIn]]) -> StandIn:
    return await standin(routes)


def survey_config(prefix: str, relay: Relay, cert: Path, dns: DnsStandIn, api_base: str,
                  csat: str = "{}") -> Config:
    return parse_config(relay_config(prefix, relay, cert, dns) + f"""
http: {{public_url: "{PUBLIC}"}}
csat: {csat}
channels:
  telegram:
    bot: {{secret_token: "{'s' * 20}", bot_token: "{BOT}", api_base: "{api_base}"}}
""")


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn,
           telegram: StandIn) -> Config:
    return survey_config(prefix, relay[0], relay[1], dns, telegram.base)


async def resolved(tickets: Tickets, aclient: aioredis.Redis, keys: Keys, config: Config,
                   message: InboundMessage) -> str:
    """A ticket from `message`, its clocks started (the report counts it), resolved by its
    agent, its survey offered as the resolve handler offers it."""
    tid = await tickets.open(message)
    now = time.time()
    await Sla(aclient, keys, config.sla).start([tid], now)
    assert (await Work(aclient, keys).resolve(tid, "ann", privileged=False)).outcome == "ok"
    assert await Surveys(aclient, keys).offer(tid, "ann", now)
    return tid


def answer(message: InboundMessage, text: str) -> InboundMessage:
    return msgspec.structs.replace(message, text=text, external_id=f"{message.external_id}-a")


async def test_survey_goes_once_and_a_typed_score_answers_it(
        aclient: aioredis.Redis, keys: Keys, config: Config, tickets: Tickets,
        telegram: StandIn, senders: None, eventually: Any) -> None:
    asked = chat_message(Channel.TELEGRAM, "4242", account="bot")
    tid = await resolved(tickets, aclient, keys, config, asked)
    stage = SurveyStage(aclient, keys, config, "w1")
    assert await stage.step(time.time()) == 1
    await eventually(lambda: _n(telegram.requests))
    [sent] = telegram.requests
    assert sent["chat_id"] == "4242"
    assert f"{PUBLIC}/csat/{tid}." in sent["text"] and "lang=zh" in sent["text"]
    assert "回复数字 1" in sent["text"] and "退订" in sent["text"]     # the ticket's language

    # a replayed offer (a worker that died before its acknowledgement), another worker, a
    # second offer entry: none sends again
    offers = await aclient.xrange(keys.csat_offers)
    [(_, fields)] = [(e, f) for e, f in offers if f[b"ticket"] == tid.encode()]
    await aclient.xadd(keys.csat_offers, fields)
    assert await SurveyStage(aclient, keys, config, "w2").step(time.time()) == 0
    assert await stage.step(time.time()) == 0
    replies = await Outbox(aclient, keys).thread(tid)
    assert [r.message.reply_id for r in replies] == [survey_reply_id(tid)]
    await eventually(lambda: _sent(aclient, keys, tid))
    assert len(telegram.requests) == 1

    # the customer types "５" back: recorded, the ticket stays resolved; the replay of that
    # message is the same answer, and a real message still reopens as usual
    now = time.time()
    score = answer(asked, "５")
    [ctx] = await tickets.store.resolve_customers([score], now)
    assert await stage.take_answers([score], [ctx.customer_id], now) == [True]
    assert await stage.take_answers([score], [ctx.customer_id], now) == [True]
    t = await aclient.hmget(keys.ticket(tid), ["status", "csat_score", "csat_msg"])
    assert t == [b"resolved", b"5", score.id.encode()]
    noise = [f for _, f in await aclient.xrange(keys.noise) if f[b"id"] == score.id.encode()]
    assert len(noise) == 1 and b"survey answer" in noise[0][b"reason"]
    words = answer(asked, "5 个包裹还没到")
    assert await stage.take_answers([words], [ctx.customer_id], now) == [False]

    rollups = Rollups(aclient, keys, config.sla)
    await rollups.catch_up()
    sums = await rollups.sums("m", now - 3600, now + 3600, Filter())
    [row] = csat(sums, Filter()).as_dicts()
    assert (row["surveys"], row["answers"], row["mean_score"], row["score_5"]) == (1, 1, 5.0, 1)


async def test_email_survey_through_the_relay_and_who_gets_none(
        aclient: aioredis.Redis, keys: Keys, config: Config, tickets: Tickets,
        relay: tuple[Relay, Path], dns: DnsStandIn, telegram: StandIn, prefix: str,
        senders: None, eventually: Any) -> None:
    tid = await resolved(tickets, aclient, keys, config, email_message("wang@example.cn"))
    forged = msgspec.structs.replace(email_message("li@example.cn"),
                                     sender_auth=SenderAuth(verified=False, detail="dkim=fail"))
    unverified = await resolved(tickets, aclient, keys, config, forged)
    stage = SurveyStage(aclient, keys, config, "w1")
    assert await stage.step(time.time()) == 1
    [mail] = await eventually(lambda: _mails(relay[0]))
    assert mail.rcpt_tos == ["wang@example.cn"]
    body = mail.message.get_body().get_content()                 # type: ignore[union-attr]
    assert f"{PUBLIC}/csat/{tid}." in body and "回复数字" not in body   # no in-line answers
    assert str(mail.message["Subject"]).startswith("服务满意度调查")
    history = [e.action for e in await AuditLog(aclient, keys).history(unverified)]
    assert "csat_skipped" in history and "csat_sent" not in history

    # a customer who opted out (typed 退订) and an account with surveys off get none
    chat = chat_message(Channel.TELEGRAM, "77", account="bot")
    first = await resolved(tickets, aclient, keys, config, chat)
    assert await stage.step(time.time()) == 1
    now = time.time()
    [ctx] = await tickets.store.resolve_customers([chat], now)
    assert await stage.take_answers([answer(chat, "退订")], [ctx.customer_id], now) == [True]
    second = chat_message(Channel.TELEGRAM, "77", account="bot")
    again = await resolved(tickets, aclient, keys, config, msgspec.structs.replace(
        second, thread_key="bot:77:2"))
    assert again != first
    assert await stage.step(time.time()) == 0
    assert await aclient.hget(keys.ticket(again), "csat_skipped") == \
        b"the customer asked for no surveys"
    off = survey_config(prefix, relay[0], relay[1], dns, telegram.base,
                        csat='{accounts: {"telegram/bot": false}}')
    other = await resolved(tickets, aclient, keys, off, chat_message(Channel.TELEGRAM, "78",
                                                                     account="bot"))
    assert await SurveyStage(aclient, keys, off, "w3").step(time.time()) == 0
    assert b"surveys are off" in (await aclient.hget(keys.ticket(other), "csat_skipped") or b"")


async def test_the_delay_holds_the_survey_until_due(
        aclient: aioredis.Redis, keys: Keys, tickets: Tickets, relay: tuple[Relay, Path],
        dns: DnsStandIn, telegram: StandIn, prefix: str) -> None:
    config = survey_config(prefix, relay[0], relay[1], dns, telegram.base,
                           csat="{delay_minutes: 30}")
    tid = await resolved(tickets, aclient, keys, config,
                         chat_message(Channel.TELEGRAM, "99", account="bot"))
    stage = SurveyStage(aclient, keys, config, "w1")
    now = time.time()
    assert await stage.step(now) == 0
    assert await aclient.zcard(keys.csat_due) == 1
    assert not await aclient.exists(keys.reply(survey_reply_id(tid)))
    assert await stage.step(now + 31 * 60) == 1
    assert await aclient.zcard(keys.csat_due) == 0
    assert await stage.step(now + 62 * 60) == 0


async def _n(items: list[Any]) -> bool:
    return len(items) >= 1


async def _sent(aclient: aioredis.Redis, keys: Keys, tid: str) -> bool:
    return await aclient.hget(keys.reply(survey_reply_id(tid)), "state") == b"sent"


async def _mails(relay: Relay) -> list[Any]:
    with relay.lock:
        return list(relay.received)


async def test_old_offers_are_not_sent_late(
        aclient: aioredis.Redis, keys: Keys, config: Config, tickets: Tickets) -> None:
    # the stage starting on a stream of old offers (an upgrade, a long outage) sends none
    tid = await resolved(tickets, aclient, keys, config,
                         chat_message(Channel.TELEGRAM, "55", account="bot"))
    stage = SurveyStage(aclient, keys, config, "w1")
    assert await stage.step(time.time() + 3 * 86400) == 0
    assert await aclient.hget(keys.ticket(tid), "csat_skipped") == \
        b"the offer is too old to send late"
    assert not await aclient.exists(keys.reply(survey_reply_id(tid)))


def _update(n: int, user: int, text: str) -> bytes:
    import json

    who = {"id": user, "first_name": "小", "last_name": "王", "type": "private"}
    return json.dumps({"update_id": 9_000_000 + n, "message": {
        "message_id": 500 + n, "from": {**who, "is_bot": False}, "chat": who,
        "date": int(time.time()), "text": text}}, ensure_ascii=False).encode()


async def test_through_the_running_worker(
        live: Any, aclient: aioredis.Redis, keys: Keys, eventually: Any) -> None:
    """The app's own worker: its tick sends the survey, and the customer's "⑤" posted to the
    Telegram webhook answers it instead of reopening the ticket."""
    hdr = {"Content-Type": "application/json",
           "X-Telegram-Bot-Api-Secret-Token": "s" * 20}

    async def post(n: int, text: str) -> None:
        resp = await live.post("/webhooks/telegram/bot", data=_update(n, 31337, text),
                               headers=hdr)
        assert resp.status == 200, await resp.text()

    async def one_ticket() -> str:
        ids = await aclient.zrange(keys.tickets, 0, -1)
        return ids[0].decode() if len(ids) == 1 else ""

    await post(1, "我买的耳机没声音了")
    tid = await eventually(one_ticket)
    assert (await Work(aclient, keys).resolve(tid, "ops", privileged=True)).outcome == "ok"
    assert await Surveys(aclient, keys).offer(tid, "ops", time.time())
    await eventually(lambda: aclient.hget(keys.ticket(tid), "csat_sent_at"))
    await post(2, "⑤")
    assert await eventually(lambda: aclient.hget(keys.ticket(tid), "csat_score")) == b"5"
    assert await aclient.hget(keys.ticket(tid), "status") == b"resolved"
    assert await aclient.zcard(keys.tickets) == 1
