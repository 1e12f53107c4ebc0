"""Hostile mail (tests/email/hostile.py) over real SMTP against the app: each shape gets its 250
while /healthz keeps answering, and the message reaches the stream — readable, or degraded with
the reason and its raw kept. Before the parse left the event loop and became bounded, the first
shape alone never finished. Plus the parse budget's unit tests."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import smtplib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient

from deskgate.connectors.email_config import MailLimits
from deskgate.connectors.email_parse import over_budget, parse_mail
from deskgate.gateway.config import parse_config
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.mail.smtp import DeskgateSMTP, smtp_port
from deskgate.gateway.web.app import create_app

from .conftest import FIXTURES, fixture_bytes, ingested, mail_config
from .hostile import LONG_LINE, SHAPES, nested_multiparts

AppClient = Callable[[web.Application], Awaitable[TestClient]]
NOW = datetime(2024, 4, 1, tzinfo=UTC)
EMAIL = mail_config("p:").email


def send(port: int, raw: bytes) -> dict[str, tuple[int, bytes]]:
    # A generous client timeout: the point is that the reply comes at all (before the fix the
    # first shape kept the gateway busy for more than 11 minutes).
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
        return s.sendmail("mallory@example.net", ["support@example.com"], raw)


async def test_hostile_mail_is_accepted_while_healthz_answers(
        aiohttp_client: AppClient, redis_url: str, data_dir: Path, r: redis.Redis,
        prefix: str) -> None:
    config = parse_config(f"""
redis_prefix: "{prefix}"
email:
  smtp: {{host: 127.0.0.1, port: 0, max_message_bytes: 4000000}}
  inboxes: [{{address: support@example.com, account: support}}]
""")
    app = create_app(config, redis_url, data_dir, run_workers=False)
    client = await aiohttp_client(app)
    port = smtp_port(app)
    sent: dict[str, bytes] = {}
    for name, make in SHAPES.items():
        raw = sent[name] = make()
        delivery = asyncio.ensure_future(asyncio.to_thread(send, port, raw))
        answered = 0
        while not delivery.done():  # the gateway serves HTTP while it handles the mail
            resp = await client.get("/healthz")
            assert resp.status == 200, name
            answered += 1
        assert await delivery == {}, name
        assert answered >= 1
    by_raw = {m.meta["raw"]: m for m in ingested(r, prefix)}
    blobs = BlobStore(data_dir)
    for name, raw in sent.items():
        ref = "sha256:" + hashlib.sha256(raw).hexdigest()
        m = by_raw[ref]
        assert blobs.get(ref) == raw, name
        assert m.sender.identities[0].value == "mallory@example.net", name
        if name.startswith("html"):
            assert "parse_error" not in m.meta, name
    assert by_raw["sha256:" + hashlib.sha256(sent["html 40k nested <div>"]).hexdigest()
                  ].text == "deep text"
    nested = by_raw["sha256:" + hashlib.sha256(
        sent["950 nested multiparts, 65k lines"]).hexdigest()]
    assert nested.meta["parse_error"].startswith("over the parse budget: 950 MIME levels")
    assert nested.subject == "nested multiparts"
    answer = by_raw["sha256:" + hashlib.sha256(
        sent["20k quoted lines then an answer"]).hexdigest()]
    assert answer.text == "answer"


LIMITS = MailLimits()


@pytest.mark.parametrize(("raw", "reason"), [
    (nested_multiparts(65, 10), "MIME levels"),
    (nested_multiparts(40, 200_000), "lines × 41 MIME levels"),
    (b"Subject: x\r\n\r\n" + b"\n" * 600_001, "lines >"),
    (b"Subject: x\r\n" + b"X-A: b\r\n" * 2001 + b"\r\nbody", "header fields"),
    (b"Subject: " + b"a" * 300_000 + b"\r\n\r\nbody", "header block"),
    (b"Subject: x\r\n\r\n" + b"--x\r\n" * 5001, "part delimiters"),
    # whitespace or case in the Content-Type does not hide a boundary from the count
    (b"Subject: x\r\n\r\n" + b"BOUNDARY =" * 65, "MIME levels"),
])
def test_parse_budget_names_what_is_over(raw: bytes, reason: str) -> None:
    assert reason in over_budget(raw, LIMITS)
    m = parse_mail(raw, EMAIL, account="support", received_at=NOW, via="test")
    assert m.message.meta["parse_error"].startswith("over the parse budget")
    assert m.blobs[0].data == raw and m.message.meta["raw"] == f"sha256:{m.blobs[0].sha256}"


def test_real_mail_and_a_large_attachment_are_within_budget() -> None:
    for path in sorted(FIXTURES.glob("*.eml")):
        assert over_budget(fixture_bytes(path.name), LIMITS) == "", path.name
    attachment = b"QUJD" * 19 + b"\r\n"  # 25 MB of base64 lines, two levels of multipart
    raw = (b'Subject: big\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\n'
           b'Content-Type: multipart/alternative; boundary="i"\r\n\r\n--i\r\n'
           b"Content-Type: text/plain\r\n\r\nsee attached\r\n--i--\r\n--o\r\n"
           b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + attachment * (25_000_000 // len(attachment)) + b"--o--\r\n")
    assert over_budget(raw, LIMITS) == ""


def test_long_lines_and_long_headers_are_read_in_bounded_prefixes() -> None:
    m = parse_mail(LONG_LINE, EMAIL, account="support", received_at=NOW, via="test").message
    assert m.meta["truncated"] == "true" and m.text == "x" * len(m.text)
    assert len(m.text) <= LIMITS.max_text_chars
    subject = b"Subject: " + b"=?utf-8?q?a?=\r\n " * 10_000 + b"\r\n"
    m = parse_mail(subject + b"From: a@example.net\r\n\r\nhi", EMAIL, account="support",
                   received_at=NOW, via="test").message
    assert "parse_error" not in m.meta and set(m.subject) == {"a"}


def test_smtp_data_is_read_in_blocks_with_upstreams_replies() -> None:
    # aiosmtpd's DATA loop spent ~2 µs per line (a mail of 700k empty lines: 1.4 s of the
    # event loop); DeskgateSMTP reads blocks. Same results as upstream on the edge cases:
    # dot-stuffing, empty body, line length limit, size limit, and a command pipelined after
    # the end marker is still read as a command.
    async def scenario() -> list[tuple[bytes, str]]:
        smtp = DeskgateSMTP(object(), data_size_limit=10_000)
        results = []
        for data in (b"a\r\n..dot\r\n.\r\n", b".\r\n", b"x" * 999 + b"\r\n.\r\n",
                     b"x" * 1000 + b"\r\n.\r\n", b"y\r\n" * 4000 + b".\r\nQUIT\r\n",
                     b"\r\n" * 700_000 + b".\r\n"):
            reader = smtp._reader = asyncio.StreamReader(limit=smtp.line_length_limit)
            reader.feed_data(data)
            results.append(await smtp._read_data())
            if data.endswith(b"QUIT\r\n"):
                assert await reader.readuntil(b"\r\n") == b"QUIT\r\n"
        return results

    results = asyncio.run(scenario())
    assert results[0] == (b"a\r\n.dot\r\n", "")
    assert results[1] == (b"", "")
    assert results[2] == (b"x" * 999 + b"\r\n", "")
    assert results[3][1].startswith("500 Line too long")
    assert results[4][1] == "552 Error: Too much mail data"
    assert results[5][1] == "552 Error: Too much mail data"


async def test_a_dead_parse_process_gets_451_and_the_next_mail_fresh_processes(
        aiohttp_client: AppClient, redis_url: str, data_dir: Path, r: redis.Redis,
        prefix: str) -> None:
    app = create_app(mail_config(prefix), redis_url, data_dir, run_workers=False)
    await aiohttp_client(app)
    port = smtp_port(app)
    assert await asyncio.to_thread(send, port, fixture_bytes("gmail_reply_en.eml")) == {}
    parsers = multiprocessing.active_children()  # the parse processes this test's app spawned
    assert parsers
    for process in parsers:
        process.kill()
        process.join()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, port, fixture_bytes("iphone_signature.eml"))
    assert refused.value.smtp_code == 451  # the sending server retries: nothing is lost
    assert await asyncio.to_thread(send, port, fixture_bytes("iphone_signature.eml")) == {}
    assert {m.subject for m in ingested(r, prefix)} == {"Re: Refund for order A-77812",
                                                        "Cancel my subscription"}
