"""Email replies end to end with real parts: the customer's mail reaches our SMTP listener,
the triage worker makes the ticket, the agent answers over the API, a sender worker delivers
through a real aiosmtpd relay (STARTTLS + AUTH), and the customer's answer to that mail threads
back onto the same ticket. Also the relay's temporary and permanent refusals."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from deskgate.gateway.config import Config
from deskgate.gateway.mail.smtp import smtp_port
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox

from .conftest import Tickets, email_message
from .relay import USER, Relay


def customer_mail(subject: str, body: str, *, message_id: str,
                  in_reply_to: str = "") -> bytes:
    mail = EmailMessage()
    mail["From"] = "韩梅梅 <han.meimei@example.net>"
    mail["To"] = "support@shop.example.cn"
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail.set_content(body)
    return mail.as_bytes()


def smtp_send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.sendmail("han.meimei@example.net", ["support@shop.example.cn"], raw)


def header(mail: EmailMessage, name: str) -> str:
    return str(mail[name])


async def test_reply_reaches_customer_and_their_answer_threads_back(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, keys: Keys,
        aclient: aioredis.Redis, relay: tuple[Relay, Path], senders: None,
        auth: Callable[..., dict[str, str]], tickets: Tickets,
        eventually: Callable[..., Any]) -> None:
    app = create_app(config, redis_url, data_dir, run_workers=True)
    client = await aiohttp_client(app)
    port = smtp_port(app)
    await asyncio.to_thread(smtp_send, port, customer_mail(
        "订单 A1234 的退货申请", "你好，我想退货。", message_id="first-1@example.net"))
    ann = auth(Role.AGENT, "ann")

    async def claimed() -> Any:
        body = await (await client.post("/api/v1/agents/ann/claim", headers=ann)).json()
        return body["ticket"]

    ticket = await eventually(claimed)
    tid = ticket["id"]
    uploaded = await client.post(f"/api/v1/tickets/{tid}/files?name=退货说明.txt", headers=ann,
                                 data="退货地址：上海市".encode())
    assert uploaded.status == 201, await uploaded.text()
    app_blob = (await uploaded.json())["ref"]
    resp = await client.post(f"/api/v1/tickets/{tid}/replies", headers=ann, json={
        "text": "您好！退货已受理，请把商品寄回。Thanks!",
        "attachments": [{"ref": app_blob, "name": "退货说明 2026.txt",
                         "content_type": "text/plain"}]})
    assert resp.status == 201, await resp.text()
    reply_id = (await resp.json())["id"]

    async def sent() -> Any:
        r = await Outbox(aclient, keys).get(reply_id)
        return r if r is not None and r.state == "sent" else None

    stored = await eventually(sent)
    [got] = relay[0].received
    assert got.authenticated_as == USER and got.rcpt_tos == ["han.meimei@example.net"]
    mail = got.message
    raw_headers = got.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    assert raw_headers.isascii()                       # RFC 2047: no raw UTF-8 in headers
    assert b"=?utf-8?" in raw_headers.lower()
    subject = header(mail, "Subject")
    assert subject.startswith("Re: 订单 A1234 的退货申请 [#DG-"), subject
    assert header(mail, "In-Reply-To") == "<first-1@example.net>"
    assert "<first-1@example.net>" in header(mail, "References")
    assert header(mail, "Message-ID") == f"<{stored.provider_id}>"
    assert "小店客服" in header(mail, "From")
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content_charset() == "utf-8"
    assert "退货已受理" in body.get_content()
    [att] = list(mail.iter_attachments())
    assert att.get_filename() == "退货说明 2026.txt"
    assert b"filename*=" in got.raw                     # RFC 2231 parameter encoding
    assert att.get_content() == "退货地址：上海市"

    # the customer answers our mail (their client drops our tag from the subject)
    await asyncio.to_thread(smtp_send, port, customer_mail(
        "Re: 退货", "好的，已寄出，单号 SF1234567890。", message_id="second-2@example.net",
        in_reply_to=header(mail, "Message-ID")))

    async def threaded() -> Any:
        return len(await aclient.lrange(keys.ticket_msgs(tid), 0, -1)) == 2

    await eventually(threaded)
    assert await aclient.zcard(keys.tickets) == 1      # no second ticket


async def test_relay_refusals(client: Any, tickets: Tickets, relay: tuple[Relay, Path],
                              senders: None, auth: Callable[..., dict[str, str]],
                              aclient: aioredis.Redis, keys: Keys,
                              eventually: Callable[..., Any]) -> None:
    box = Outbox(aclient, keys)
    ann = auth(Role.AGENT, "ann")
    # a 451 is retried (after its back-off) and then goes through
    relay[0].answers.append("451 4.3.0 try again later")
    tid = await tickets.open(email_message("a@example.cn"))
    rid = (await (await client.post(f"/api/v1/tickets/{tid}/replies", headers=ann,
                                    json={"text": "一"})).json())["id"]

    async def state_of(reply_id: str, state: str) -> Any:
        r = await box.get(reply_id)
        return r if r is not None and r.state == state else None

    done = await eventually(lambda: state_of(rid, "sent"))
    assert done.attempts == 2 and "451" in done.last_error
    assert len(relay[0].received) == 1
    # a 550 fails the reply with the relay's words, once
    relay[0].answers.append("550 5.1.1 mailbox unavailable")
    tid2 = await tickets.open(email_message("b@example.cn"))
    rid2 = (await (await client.post(f"/api/v1/tickets/{tid2}/replies", headers=ann,
                                     json={"text": "二"})).json())["id"]
    failed = await eventually(lambda: state_of(rid2, "failed"))
    assert "550" in failed.reason and failed.attempts == 1
    assert len(relay[0].received) == 1
