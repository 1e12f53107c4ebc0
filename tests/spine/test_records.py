"""Messages that open no ticket, and mail that could not be read, are visible over the API."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis

from deskgate.models.enums import Channel, IdentityKind, MessageKind, Role
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.queue.keys import Keys
from deskgate.queue.mailbox_state import MailboxState
from deskgate.queue.tickets import TicketStore


async def test_noise_and_quarantine_are_listed_newest_first(client, auth, redis_url,
                                                            prefix) -> None:
    store = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    sender = Sender((Identity(IdentityKind.EMAIL, "mailer-daemon@example.cn"),))
    for n, (kind, reason) in enumerate([(MessageKind.AUTO_REPLY, "Auto-Submitted: auto-replied"),
                                        (MessageKind.BOUNCE, "multipart/report DSN")]):
        await TicketStore(store, keys).record_noise(InboundMessage(
            channel=Channel.EMAIL, account="support", external_id=f"<n{n}@x>", sender=sender,
            received_at=datetime.now(UTC), subject=f"noise {n}", text="out of office",
            kind=kind, kind_reason=reason))
    await MailboxState(store, keys).quarantine("inbox1", 7, "not a MIME message")
    await store.aclose()

    manager = auth(Role.MANAGER)
    listed = await (await client.get("/api/v1/noise", headers=manager)).json()
    assert [(m["kind"], m["subject"]) for m in listed["messages"]] == [
        ("bounce", "noise 1"), ("auto_reply", "noise 0")]
    assert listed["messages"][0]["reason"] == "multipart/report DSN"
    one = await (await client.get("/api/v1/noise?limit=1", headers=manager)).json()
    assert len(one["messages"]) == 1
    assert (await client.get("/api/v1/noise?limit=x", headers=manager)).status == 400
    q = await (await client.get("/api/v1/email/quarantine", headers=manager)).json()
    assert [(e["mailbox"], e["uid"], e["reason"]) for e in q["quarantined"]] == [
        ("inbox1", 7, "not a MIME message")]
    assert (await client.get("/api/v1/noise", headers=auth(Role.AGENT, "ann"))).status == 403
