"""IMAP under a persistence refusal (README "Durability modes"): a message that cannot be made
durable is left unflagged in the mailbox and taken later, against a real Dovecot."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from msgspec.structs import replace

from deskgate.gateway.appkeys import METRICS
from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.queue.persistence import DurabilityConfig

from .conftest import ingested
from .dovecot import Dovecot
from .test_email_imap import AppClient, append, flags_by_subject, imap_config, user, wait_for  # noqa: F401

pytestmark = pytest.mark.imap


def refusing(config: Config) -> Config:
    """More free space demanded than any disk has: every accept is refused."""
    return replace(config, durability=DurabilityConfig(min_free_mb=2**40))


async def test_imap_leaves_mail_unflagged_while_persistence_refuses_then_takes_it(
        aiohttp_client: AppClient, dovecot: Dovecot, user: str, prefix: str, redis_url: str,
        data_dir: Path, r: redis.Redis) -> None:
    append(dovecot, user, ["foxmail_gbk_base64.eml", "gmail_reply_en.eml"])
    config = imap_config(prefix, dovecot, user, start_from="unseen", after_ingest="seen")
    app = create_app(refusing(config), redis_url, data_dir, run_workers=False)
    client = await aiohttp_client(app)
    await wait_for(lambda: app[METRICS].value("deskgate_ingest_unavailable_total") >= 1,
                   "the poller to try to ingest")
    assert ingested(r, prefix) == []
    assert not any(b"\\Seen" in f for f in flags_by_subject(dovecot, user).values())
    await client.close()

    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await wait_for(lambda: len(ingested(r, prefix)) == 2, "both messages, once room is back")
    await wait_for(lambda: all(b"\\Seen" in f for f in flags_by_subject(dovecot, user).values()),
                   "\\Seen flags")
    await client.close()
