"""IMAP pollers against a real Dovecot: pre-filled and new mail (IDLE), flags and moves only
after ingest, restarts that neither skip nor re-ingest, UIDVALIDITY changes, quarantine, and
one message when SMTP and IMAP deliver the same Message-ID."""

from __future__ import annotations

import asyncio
import itertools
import smtplib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient

from deskgate.gateway.appkeys import METRICS
from deskgate.gateway.config import Config
from deskgate.gateway.mail.imap import MailboxPoller
from deskgate.gateway.mail.smtp import MailSink, smtp_port
from deskgate.gateway.web.app import create_app
from deskgate.queue.keys import Keys

from .conftest import fixture_bytes, ingested, mail_config
from .dovecot import Dovecot

pytestmark = pytest.mark.imap
AppClient = Callable[[web.Application], Awaitable[TestClient]]
_users = itertools.count(1)
CORPUS = ["foxmail_gbk_base64.eml", "big5_qp.eml", "qqmail_html_only.eml",
          "gmail_reply_zh.eml", "attachments_inline_and_files.eml"]


@pytest.fixture
def user() -> str:
    return f"desk{next(_users)}-{time.time_ns()}"


def imap_config(prefix: str, dovecot: Dovecot, user: str, **overrides: object) -> Config:
    settings = {"name": "inbox1", "host": "127.0.0.1", "port": dovecot.port, "tls": False,
                "user": user, "password": dovecot.PASSWORD, "account": "support",
                "skill": "general", "poll_seconds": 1, "start_from": "all", **overrides}
    fields = ", ".join(f"{k}: {v!r}".replace("'", '"') for k, v in settings.items())
    return mail_config(prefix, f"  imap:\n    - {{{fields}}}\n")


async def wait_for(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def flags_by_subject(dovecot: Dovecot, user: str, folder: str = "INBOX") -> dict[int, tuple]:
    c = dovecot.client(user)
    try:
        c.select_folder(folder, readonly=True)
        uids = c.search(["ALL"])
        return {uid: d[b"FLAGS"] for uid, d in c.fetch(uids, ["FLAGS"]).items()} if uids else {}
    finally:
        c.logout()


def append(dovecot: Dovecot, user: str, names: list[str], flags: tuple = (),
           folder: str = "INBOX") -> None:
    c = dovecot.client(user)
    try:
        for name in names:
            c.append(folder, fixture_bytes(name), flags=flags)
    finally:
        c.logout()


async def test_prefilled_mailbox_then_idle_then_restart_without_reingest(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path, r: redis.Redis) -> None:
    append(dovecot, user, CORPUS)
    config = imap_config(prefix, dovecot, user, after_ingest="none")
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) == 5, "the pre-filled mailbox")
    got = {m.subject: m for m in ingested(r, prefix)}
    assert "订单一直没有发货，请尽快处理" in got and "帳號無法登入" in got
    assert all(m.meta["via"] == "imap:inbox1" and m.account == "support" for m in got.values())
    assert {a.name for a in got["发票和截图"].attachments} >= {"发票.pdf", "订单明细.xlsx"}
    # new mail while the poller idles
    append(dovecot, user, ["outlook_reply_en.eml"])
    await wait_for(lambda: len(ingested(r, prefix)) == 6, "mail appended while idling")
    # the UID is saved just after the ingest returns: wait for it rather than race the close
    await wait_for(lambda: int(r.hget(Keys(prefix).imap_state("inbox1"), "last_uid") or 0) == 6,
                   "the poller's saved UID")
    await client.close()
    # down for a while: two arrive; the restart takes exactly those (nothing was flagged, so
    # only the saved UID tells old from new)
    append(dovecot, user, ["outlook_reply_zh.eml", "iphone_signature.eml"])
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) == 8, "mail that arrived while down")
    await asyncio.sleep(1.5)  # a further poll round must not bring anything again
    assert len(ingested(r, prefix)) == 8
    assert len({m.external_id for m in ingested(r, prefix)}) == 8
    await client.close()


async def test_mail_arriving_during_a_round_is_taken_without_waiting_for_the_next_poll(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path, r: redis.Redis) -> None:
    template = fixture_bytes("iphone_signature.eml")
    c = dovecot.client(user)
    c.multiappend("INBOX", [template.replace(b"Message-Id: <8A7B6C5D",
                                             f"Message-Id: <n{i}-8A7B6C5D".encode())
                            for i in range(30)])
    c.logout()
    # One message per round trip keeps the round long enough to append into; the poll
    # interval is far beyond the wait, so only an immediate re-search can find the newcomer
    # (the server announced it in a FETCH/STORE reply, and IDLE does not announce it again).
    config = imap_config(prefix, dovecot, user, batch=1, poll_seconds=600)
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) >= 1, "the round to start")
    await asyncio.to_thread(append, dovecot, user, ["outlook_reply_en.eml"])
    await wait_for(lambda: len(ingested(r, prefix)) == 31, "the newcomer", seconds=15)
    assert "RE: [#DG-1042] Printer error E42" in {m.subject for m in ingested(r, prefix)}
    await client.close()


async def test_a_search_answered_from_the_servers_old_view_still_reports_new_mail(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path) -> None:
    # Dovecot answers SEARCH from its last sync and announces later mail only in an untagged
    # EXISTS after the results; IDLE would not announce it again, so the poller must notice.
    config = imap_config(prefix, dovecot, user)
    app = create_app(mail_config(prefix), redis_url, data_dir, run_workers=False)
    await aiohttp_client(app)
    poller = MailboxPoller(app, config.email.imap[0], MailSink(app), "test")
    await asyncio.to_thread(poller._connect)
    try:
        assert await asyncio.to_thread(poller._search, 0, False) == ([], False)
        append(dovecot, user, ["big5_qp.eml"])
        assert await asyncio.to_thread(poller._search, 0, False) == ([], True)
        assert await asyncio.to_thread(poller._search, 0, False) == ([1], False)
    finally:
        await asyncio.to_thread(poller._logout)


async def test_seen_flag_only_after_ingest_and_unseen_start(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path, r: redis.Redis) -> None:
    append(dovecot, user, ["big5_qp.eml"], flags=(b"\\Seen",))   # read by a person already
    append(dovecot, user, ["foxmail_gbk_base64.eml", "gmail_reply_en.eml"])
    config = imap_config(prefix, dovecot, user, start_from="unseen", after_ingest="seen")
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) == 2, "the unseen messages")
    await wait_for(lambda: all(b"\\Seen" in f for f in flags_by_subject(dovecot, user).values()),
                   "\\Seen flags")
    assert {m.subject for m in ingested(r, prefix)} == {"订单一直没有发货，请尽快处理",
                                                        "Re: Refund for order A-77812"}
    await client.close()


async def test_move_after_ingest(aiohttp_client: AppClient, dovecot: Dovecot, user: str,
                                 prefix: str, redis_url: str, data_dir: Path,
                                 r: redis.Redis) -> None:
    append(dovecot, user, CORPUS[:3])
    config = imap_config(prefix, dovecot, user, after_ingest="move", move_to="Deskgate")
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) == 3, "ingest")
    await wait_for(lambda: len(flags_by_subject(dovecot, user)) == 0, "INBOX emptied")
    assert len(flags_by_subject(dovecot, user, "Deskgate")) == 3
    await client.close()


async def test_broken_message_is_quarantined_and_does_not_block(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path, r: redis.Redis) -> None:
    c = dovecot.client(user)
    c.append("INBOX", fixture_bytes("big5_qp.eml"))
    c.append("INBOX", fixture_bytes("iphone_signature.eml") + (b"y" * 70 + b"\r\n") * 4000)
    c.append("INBOX", fixture_bytes("gmail_reply_zh.eml"))
    c.logout()
    config = imap_config(prefix, dovecot, user, after_ingest="seen")
    app = create_app(config, redis_url, data_dir, run_workers=False)
    client = await aiohttp_client(app)
    await wait_for(lambda: len(ingested(r, prefix)) == 2, "the two good messages")
    # the round stores the good ones first, then quarantines and flags: wait for those too
    await wait_for(lambda: b"$DeskgateQuarantine" in flags_by_subject(dovecot, user)[2],
                   "the quarantine flag")
    [(_, entry)] = r.xrange(Keys(prefix).mail_quarantine)
    assert entry[b"uid"] == b"2" and b"limit" in entry[b"reason"]
    flags = flags_by_subject(dovecot, user)
    assert b"$DeskgateQuarantine" in flags[2] and b"\\Seen" not in flags[2]
    assert app[METRICS].value("deskgate_email_quarantined_total", mailbox="inbox1") == 1
    await client.close()


async def test_uidvalidity_change_rescans_without_duplicates(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path, r: redis.Redis) -> None:
    append(dovecot, user, CORPUS[:2], folder="INBOX")
    c = dovecot.client(user)
    c.create_folder("Support")
    c.logout()
    append(dovecot, user, CORPUS[:2], folder="Support")
    config = imap_config(prefix, dovecot, user, folder="Support", after_ingest="none")
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) == 2, "first pass")
    await client.close()
    old = int(r.hget(Keys(prefix).imap_state("inbox1"), "uidvalidity"))
    c = dovecot.client(user)  # the folder is rebuilt: same mail, new UIDVALIDITY, plus one more
    c.delete_folder("Support")
    c.create_folder("Support")
    c.logout()
    append(dovecot, user, CORPUS[:3], folder="Support")
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) == 3, "the one new message")
    await wait_for(lambda: int(r.hget(Keys(prefix).imap_state("inbox1"), "uidvalidity")) != old,
                   "new UIDVALIDITY saved")
    assert len(ingested(r, prefix)) == 3
    await client.close()


async def test_same_message_by_smtp_and_imap_is_one_message(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path, r: redis.Redis) -> None:
    config = imap_config(prefix, dovecot, user)
    app = create_app(config, redis_url, data_dir, run_workers=False)
    client = await aiohttp_client(app)
    raw = fixture_bytes("qqmail_reply_zh.eml")

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", smtp_port(app), timeout=10) as s:
            s.sendmail("87654321@qq.com", ["support@example.com"], raw)

    await asyncio.to_thread(send)
    append(dovecot, user, ["qqmail_reply_zh.eml", "big5_qp.eml"])
    await wait_for(lambda: len(ingested(r, prefix)) == 2, "the IMAP copy and one more")
    await asyncio.sleep(1)
    assert len(ingested(r, prefix)) == 2
    await client.close()


async def test_bad_credentials_back_off_and_the_gateway_keeps_serving(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path) -> None:
    config = imap_config(prefix, dovecot, user, password="wrong")
    app = create_app(config, redis_url, data_dir, run_workers=False)
    client = await aiohttp_client(app)
    await wait_for(lambda: app[METRICS].value("deskgate_imap_errors_total",
                                              mailbox="inbox1") >= 1, "a failed login")
    assert (await client.get("/healthz")).status in (200, 503)
    await client.close()
