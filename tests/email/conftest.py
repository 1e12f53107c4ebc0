"""Helpers for the email tests: the fixture corpus, a config with support inboxes, an app
with the SMTP listener on a free loopback port, and reading back what reached the stream."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deskgate.gateway.config import Config, parse_config
from deskgate.models.codec import decode
from deskgate.models.message import InboundMessage
from deskgate.queue.keys import Keys

from .dnszone import DnsStandIn, Zone
from .dovecot import Dovecot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


_DNS = DnsStandIn()   # started by the session fixture `dns` below, before any test runs


def mail_config(prefix: str, extra: str = "") -> Config:
    return parse_config(f"""
redis_prefix: "{prefix}"
email:
  sender_auth: {{nameservers: ["{_DNS.address}"], dns_timeout_seconds: 5}}
  smtp: {{host: 127.0.0.1, port: 0, max_message_bytes: 200000}}
  inboxes:
    - {{address: support@example.com, account: support, skill: general}}
    - {{address: billing@example.com, account: billing, skill: billing}}
    - {{address: "@help.example.cn", account: cn, skill: general}}
  own_addresses: [noreply@example.com]
{extra}
""")


def ingested(r: redis.Redis, prefix: str) -> list[InboundMessage]:
    return [decode(fields[b"m"], InboundMessage)
            for _, fields in r.xrange(Keys(prefix).ingest)]


@pytest.fixture(scope="session", autouse=True)
def dns() -> Iterator[DnsStandIn]:
    """The DNS every sender check of these tests asks (never the Internet)."""
    _DNS.start()
    yield _DNS
    _DNS.stop()


@pytest.fixture
def zone(dns: DnsStandIn) -> Iterator[Zone]:
    """The stand-in's records, empty at the start of each test."""
    dns.zone.clear()
    yield dns.zone
    dns.zone.clear()


@pytest.fixture
def config(prefix: str) -> Config:
    return mail_config(prefix)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if shutil.which("dovecot") is None:
        pytest.skip("Dovecot is not installed (apt-get install -y dovecot-imapd): "
                    "the IMAP tests need a real IMAP server")
    # Outside pytest's 0700 tmp tree: Dovecot's unprivileged processes must reach the maildir.
    root = Path(tempfile.mkdtemp(prefix="deskgate-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
