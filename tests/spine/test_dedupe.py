"""A provider's retry is a duplicate however late it comes: the idempotency marker only bridges
accept -> apply, then the message index (or, for noise, the marker kept without TTL) answers,
so markers do not pile up for 30 days and nothing expires into a second ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio as aioredis

from deskgate.models.enums import Channel, IdentityKind, MessageKind, Role
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.queue.ingest import Ingest
from deskgate.queue.keys import Keys


def _ids_in_stream(r: redis.Redis, keys: Keys, mid: str) -> int:
    return sum(1 for _, f in r.xrange(keys.ingest) if f[b"id"].decode() == mid)


async def test_a_retry_after_the_marker_is_gone_is_still_a_duplicate(
        live: Any, auth: Any, r: redis.Redis, keys: Keys, message: Any, eventually: Any) -> None:
    headers = auth(Role.INTEGRATION)
    first = await live.post("/api/v1/messages", json=message("late-1"), headers=headers)
    assert first.status == 202
    mid = (await first.json())["id"]
    assert 0 < r.ttl(keys.seen(mid)) <= 30 * 24 * 3600  # bridges accept -> apply

    await eventually(lambda: _applied(r, keys, mid))
    # applied: the marker is gone (no memory held for 30 days); the index is the record
    assert not r.exists(keys.seen(mid))
    ticket = r.hget(keys.msg(mid), "ticket").decode()

    again = await live.post("/api/v1/messages", json=message("late-1"), headers=headers)
    assert again.status == 200 and (await again.json()) == {"id": mid, "duplicate": True}
    assert _ids_in_stream(r, keys, mid) == 1
    assert r.lrange(keys.ticket_msgs(ticket), 0, -1).count(mid.encode()) == 1
    assert not r.exists(keys.seen(mid))  # a late retry leaves no marker behind either


async def _applied(r: redis.Redis, keys: Keys, mid: str) -> bool:
    return bool(r.hexists(keys.msg(mid), "ticket"))


async def test_noise_keeps_its_marker_for_good(live: Any, redis_url: str, r: redis.Redis,
                                               keys: Keys, eventually: Any) -> None:
    client = aioredis.Redis.from_url(redis_url)
    ingest = Ingest(client, keys, dedupe_ttl=3600)
    bounce = InboundMessage(
        channel=Channel.EMAIL, account="support", external_id="<dsn-1@x>",
        sender=Sender((Identity(IdentityKind.EMAIL, "mailer-daemon@example.cn"),)),
        received_at=datetime.now(UTC), subject="Undelivered", text="550 no such user",
        kind=MessageKind.BOUNCE, kind_reason="multipart/report DSN")
    assert not (await ingest.accept(bounce)).duplicate

    async def recorded() -> bool:
        return any(f[b"id"].decode() == bounce.id for _, f in r.xrange(keys.noise))
    await eventually(recorded)
    assert r.ttl(keys.seen(bounce.id)) == -1  # exists, no expiry
    assert (await ingest.accept(bounce)).duplicate
    assert r.ttl(keys.seen(bounce.id)) == -1, "a retry must not put the TTL back"
    assert _ids_in_stream(r, keys, bounce.id) == 1
    await client.aclose()
