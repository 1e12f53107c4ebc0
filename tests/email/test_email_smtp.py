"""The SMTP listener with the standard smtplib client over loopback: recipient and size policy,
durable accept before 250, 451 when storage is down, dedupe of retries, AUTH and STARTTLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deskgate.gateway.config import Config
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.mail.smtp import DeskgateSMTP, smtp_port
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import MessageKind
from deskgate.queue.keys import Keys

from .conftest import FIXTURES, fixture_bytes, ingested, mail_config
from .dnszone import DkimKey, Zone

AppClient = Callable[[web.Application], Awaitable[TestClient]]


async def start(aiohttp_client: AppClient, config: Config, redis_url: str,
                data_dir: Path) -> tuple[web.Application, int]:
    app = create_app(config, redis_url, data_dir, run_workers=False)
    await aiohttp_client(app)
    return app, smtp_port(app)


def send(port: int, raw: bytes, rcpts: list[str], sender: str = "customer@example.net",
         **login: str) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        if login:
            s.login(login["user"], login["password"])
        return s.sendmail(sender, rcpts, raw)


async def test_every_fixture_is_accepted_and_reaches_the_stream(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str) -> None:
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    names = sorted(p.name for p in FIXTURES.glob("*.eml"))
    for name in names:
        refused = await asyncio.to_thread(send, port, fixture_bytes(name),
                                          ["support@example.com"])
        assert refused == {}
    messages = {m.meta["raw"]: m for m in ingested(r, prefix)}
    assert len(messages) == len(names)
    blobs = BlobStore(data_dir)
    by_subject = {m.subject: m for m in messages.values()}
    gbk = by_subject["订单一直没有发货，请尽快处理"]
    assert gbk.account == "support" and gbk.skill_hint == "general"
    assert gbk.meta["via"] == "smtp" and gbk.meta["envelope_from"] == "customer@example.net"
    assert blobs.get(gbk.meta["raw"]) == fixture_bytes("foxmail_gbk_base64.eml")
    attached = by_subject["发票和截图"]
    assert {a.name for a in attached.attachments} >= {"发票.pdf", "screenshot.png"}
    for a in attached.attachments:
        assert len(blobs.get(a.ref)) == a.size
    assert by_subject["Undelivered Mail Returned to Sender"].kind is MessageKind.BOUNCE


async def test_unknown_recipient_is_refused_at_rcpt(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str) -> None:
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
        await asyncio.to_thread(send, port, fixture_bytes("iphone_signature.eml"),
                                ["nobody@example.com"])
    assert err.value.recipients["nobody@example.com"][0] == 550
    # one known + one unknown: delivered to the known one only
    refused = await asyncio.to_thread(send, port, fixture_bytes("iphone_signature.eml"),
                                      ["nobody@example.com", "Support@Example.com"])
    assert refused["nobody@example.com"][0] == 550
    assert len(ingested(r, prefix)) == 1


async def test_domain_inbox_and_two_accounts_in_one_envelope(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str) -> None:
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    await asyncio.to_thread(send, port, fixture_bytes("gb2312_declared_gbk_chars.eml"),
                            ["billing@example.com", "anyone@help.example.cn"])
    got = sorted((m.account, m.skill_hint) for m in ingested(r, prefix))
    assert got == [("billing", "billing"), ("cn", "general")]


async def test_oversized_message_gets_552(aiohttp_client: AppClient, config: Config,
                                          redis_url: str, data_dir: Path, r: redis.Redis,
                                          prefix: str) -> None:
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    big = fixture_bytes("iphone_signature.eml") + (b"x" * 70 + b"\r\n") * 3500

    def data_without_size_hint() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo()
            s.mail("customer@example.net")
            s.rcpt("support@example.com")
            return s.data(big)

    code, _ = await asyncio.to_thread(data_without_size_hint)
    assert code == 552
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # declared SIZE= at MAIL
        await asyncio.to_thread(send, port, big, ["support@example.com"])
    assert refused.value.smtp_code == 552
    assert ingested(r, prefix) == []


async def test_same_message_id_twice_is_one_message(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str) -> None:
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    raw = fixture_bytes("outlook_reply_en.eml")
    for _ in range(3):
        assert await asyncio.to_thread(send, port, raw, ["support@example.com"]) == {}
    assert len(ingested(r, prefix)) == 1


async def test_storage_down_gets_451_and_the_retry_is_stored_once(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str, tmp_path: Path) -> None:
    dead = f"unix://{tmp_path / 'no-redis.sock'}"
    _, port = await start(aiohttp_client, config, dead, data_dir)
    raw = fixture_bytes("big5_qp.eml")
    with pytest.raises(smtplib.SMTPDataError) as err:
        await asyncio.to_thread(send, port, raw, ["support@example.com"])
    assert err.value.smtp_code == 451
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    for _ in range(2):
        assert await asyncio.to_thread(send, port, raw, ["support@example.com"]) == {}
    [message] = ingested(r, prefix)
    assert message.subject == "帳號無法登入"


async def test_content_store_failure_gets_451_and_nothing_reaches_the_stream(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str) -> None:
    (data_dir / "blobs").write_bytes(b"")  # a file where the store's folder must be
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    with pytest.raises(smtplib.SMTPDataError) as err:
        await asyncio.to_thread(send, port, fixture_bytes("big5_qp.eml"),
                                ["support@example.com"])
    assert err.value.smtp_code == 451
    assert ingested(r, prefix) == []


async def test_blob_fsync_always_stores_mail_and_attachments_before_the_250(
        aiohttp_client: AppClient, prefix: str, redis_url: str, data_dir: Path,
        r: redis.Redis) -> None:
    config = mail_config(prefix, "  blob_fsync: always\n")
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    small = fixture_bytes("attachments_inline_and_files.eml")
    large = fixture_bytes("iphone_signature.eml") + (b"z" * 76 + b"\r\n") * 2000
    for raw in (small, large):
        assert await asyncio.to_thread(send, port, raw, ["support@example.com"]) == {}
    blobs = BlobStore(data_dir)
    stored = {m.subject: m for m in ingested(r, prefix)}
    assert len(stored) == 2
    for message, raw in zip(stored.values(), (small, large), strict=True):
        assert blobs.get(message.meta["raw"]) == raw
        assert all(blobs.exists(a.ref) for a in message.attachments)
    assert not list((data_dir / "blobs").rglob(".tmp-*"))


async def test_customer_addresses_stay_out_of_the_info_log(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    await asyncio.to_thread(send, port, fixture_bytes("big5_qp.eml"), ["support@example.com"],
                            sender="private.person@example.net")
    assert "private.person" not in caplog.text
    assert not [rec for rec in caplog.records if rec.name == "mail.log"]


async def test_concurrent_connections_are_all_stored(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str) -> None:
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    template = fixture_bytes("iphone_signature.eml")

    def burst(worker: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            for i in range(25):
                raw = template.replace(b"Message-Id: <8A7B6C5D",
                                       f"Message-Id: <w{worker}-{i}-8A7B6C5D".encode())
                s.sendmail("customer@example.net", ["support@example.com"], raw)

    await asyncio.gather(*(asyncio.to_thread(burst, w) for w in range(4)))
    assert len({m.external_id for m in ingested(r, prefix)}) == 100


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


async def test_auth_and_starttls_when_configured(
        aiohttp_client: AppClient, prefix: str, redis_url: str, data_dir: Path,
        r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("RELAY_PASSWORD", "s3cret-Pw9")
    config = mail_config(prefix, f"""  smtp:
    host: 127.0.0.1
    port: 0
    auth_users: {{relay: "${{RELAY_PASSWORD}}"}}
    auth_required: true
    tls_cert: {cert}
    tls_key: {key}
    require_starttls: true
""".replace("  smtp:", "  smtp:", 1))
    _, port = await start(aiohttp_client, config, redis_url, data_dir)
    raw = fixture_bytes("iphone_signature.eml")
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE

    def attempt(password: str | None, starttls: bool) -> int:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo()
            if starttls:
                s.starttls(context=tls)
                s.ehlo()
            try:
                if password is not None:
                    s.login("relay", password)
                s.sendmail("customer@example.net", ["support@example.com"], raw)
            except smtplib.SMTPResponseException as exc:
                return exc.smtp_code
            except smtplib.SMTPException:
                return -1  # smtplib refuses before asking (e.g. AUTH not offered)
            return 250

    assert await asyncio.to_thread(attempt, None, False) == 530   # STARTTLS required
    assert await asyncio.to_thread(attempt, None, True) == 530    # AUTH required
    assert await asyncio.to_thread(attempt, "wrong", True) == 535
    assert ingested(r, prefix) == []
    assert await asyncio.to_thread(attempt, "s3cret-Pw9", True) == 250
    assert len(ingested(r, prefix)) == 1


async def test_with_workers_a_reply_threads_onto_its_ticket_and_noise_opens_none(
        aiohttp_client: AppClient, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, prefix: str, zone: Zone) -> None:
    # a reply threads by its references when its sender is proven (test_email_sender_auth)
    key = DkimKey("foxmail.com")
    key.publish(zone)
    app = create_app(config, redis_url, data_dir, run_workers=True)
    await aiohttp_client(app)
    port = smtp_port(app)
    first = (b"From: Li Ming <liming@foxmail.com>\r\nTo: support@example.com\r\n"
             b"Subject: =?utf-8?B?5Lqn5ZOB5pyJ6Zeu6aKY?=\r\nMessage-ID: <thread-root-1@foxmail.com>\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
             + "我的订单 TB20240315001 还没发货。\r\n".encode())
    reply = (b"From: Li Ming <LiMing@Foxmail.com>\r\nTo: support@example.com\r\n"
             b"Subject: Re: something else entirely\r\nMessage-ID: <thread-reply-2@foxmail.com>\r\n"
             b"In-Reply-To: <thread-root-1@foxmail.com>\r\n"
             b"References: <thread-root-1@foxmail.com>\r\n"
             b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
             + "还是没有收到。\r\n\r\n在 2024年3月15日 写道：\r\n> 我的订单\r\n".encode())
    for raw in (key.sign(first), key.sign(reply), fixture_bytes("bounce_dsn.eml"),
                fixture_bytes("auto_reply_outlook_oof.eml")):
        await asyncio.to_thread(send, port, raw, ["support@example.com"])
    keys = Keys(prefix)

    async def settled() -> bool:
        return r.zcard(keys.tickets) >= 1 and r.xlen(keys.noise) >= 2 and sum(
            r.llen(keys.ticket_msgs(t.decode())) for t in r.zrange(keys.tickets, 0, -1)) >= 2

    deadline = asyncio.get_running_loop().time() + 60
    while not await settled():
        assert asyncio.get_running_loop().time() < deadline, "workers did not settle"
        await asyncio.sleep(0.1)
    [ticket] = r.zrange(keys.tickets, 0, -1)
    assert r.llen(keys.ticket_msgs(ticket.decode())) == 2


@pytest.mark.parametrize("arg", [
    "<bench@example.net> SIZE=3333", "<A.B+tag@Ex-ample.COM>  BODY=8BITMIME\tSMTPUTF8",
    "<a@b>", "<>", "<> SIZE=1", " <a@b>", "a@b", "<a..b@c>", "<.a@b>", "<a.@b>", "<a@b.>",
    "<a@b..c>", "<a@-b>", "<a@[1.2.3.4]>", '<"a b"@c>', "<@route:a@b>", "<a@b", "<a@b>x",
    "<a@b> (comment) SIZE=1", "<a@b>\t", "<a(c)@b>", "<用户@例子.cn>", "<a@b>,<c@d>",
    "<" + "x" * 70 + "@example.com>", "<a@b> \x0bSIZE=1", "<a@b>\n", "",
])
def test_fast_address_path_agrees_with_aiosmtpd(arg: str) -> None:
    ours = DeskgateSMTP(object(), hostname="test")
    upstream = SMTP(object(), hostname="test")
    for server in (ours, upstream):
        server.local_part_limit = 64
    assert ours._getaddr(arg) == upstream._getaddr(arg)
