"""Helpers for the email tests: the fixture corpus, a config with support inboxes, an app
with the SMTP listener on a free loopback port, and reading back what reached the stream."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from deskgate.gateway.config import Config, parse_config
from deskgate.models.codec import decode
from deskgate.models.message import InboundMessage
from deskgate.queue.keys import Keys

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def mail_config(prefix: str, extra: str = "") -> Config:
    return parse_config(f"""
redis_prefix: "{prefix}"
email:
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


@pytest.fixture
def config(prefix: str) -> Config:
    return mail_config(prefix)
