"""POST /api/v1/tickets/{id}/replies over real HTTP and real Redis: who may answer, what is
written (the thread entry and the outbox entry in one step, the first response for the SLA
clock), idempotency, and bad input."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis

from deskgate.gateway.mail.blobs import BlobStore
from deskgate.models.enums import Channel, IdentityKind, Role
from deskgate.models.message import Identity, Sender
from deskgate.queue.audit import AuditLog
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox

from .conftest import Tickets, chat_message, email_message


def url(tid: str) -> str:
    return f"/api/v1/tickets/{tid}/replies"


async def outbox_ids(c: aioredis.Redis, keys: Keys) -> list[bytes]:
    return [f[b"r"] for _, f in await c.xrange(keys.outbox)]


async def test_holder_replies_once_thread_outbox_and_first_response(
        client: Any, auth: Callable[..., dict[str, str]], tickets: Tickets,
        aclient: aioredis.Redis, keys: Keys) -> None:
    tid = await tickets.open(email_message())
    assert await aclient.hget(keys.ticket(tid), "frt_done") is None
    headers = {**auth(Role.AGENT, "ann"), "Idempotency-Key": "k-1"}
    first = await client.post(url(tid), headers=headers, json={"text": "您好，已为您办理退货。"})
    assert first.status == 201, await first.text()
    reply = await first.json()
    assert reply["state"] == "queued" and reply["channel"] == "email"
    again = await client.post(url(tid), headers=headers, json={"text": "您好，已为您办理退货。"})
    assert again.status == 200
    assert (await again.json())["id"] == reply["id"]
    assert await outbox_ids(aclient, keys) == [reply["id"].encode()]
    assert await aclient.lrange(keys.ticket_replies(tid), 0, -1) == [reply["id"].encode()]
    assert await aclient.hget(keys.ticket(tid), "frt_done") is not None
    actions = [e.action for e in await AuditLog(aclient, keys).history(tid)]
    assert actions.count("first_response") == 1 and actions.count("reply") == 1
    listed = await (await client.get(url(tid), headers=auth(Role.AGENT, "ann"))).json()
    assert [r["id"] for r in listed["replies"]] == [reply["id"]]
    assert listed["window_open"] is True


async def test_email_reply_threads_with_headers_and_tag(
        client: Any, auth: Callable[..., dict[str, str]], tickets: Tickets,
        aclient: aioredis.Redis, keys: Keys) -> None:
    m = email_message(subject="发票问题")
    tid = await tickets.open(m)
    resp = await client.post(url(tid), headers=auth(Role.AGENT, "ann"), json={"text": "好的"})
    assert resp.status == 201
    stored = await Outbox(aclient, keys).get((await resp.json())["id"])
    assert stored is not None
    msg = stored.message
    assert msg.recipient.address == "li.lei@example.cn"
    assert msg.in_reply_to == m.meta["message_id"]
    assert msg.references[-1] == m.meta["message_id"]
    assert msg.subject.startswith("Re: 发票问题 [#DG-")


async def test_who_may_reply(client: Any, auth: Callable[..., dict[str, str]],
                             tickets: Tickets, aclient: aioredis.Redis, keys: Keys) -> None:
    tid = await tickets.open(chat_message())
    body = {"text": "hello"}
    # bo serves the skill but does not hold the ticket; cy serves another skill
    assert (await client.post(url(tid), headers=auth(Role.AGENT, "bo"), json=body)).status == 403
    assert (await client.post(url(tid), headers=auth(Role.AGENT, "cy"), json=body)).status == 403
    assert (await client.post(url(tid), headers=auth(Role.INTEGRATION), json=body)).status == 403
    assert (await client.post(url(tid), json=body)).status == 401
    assert await outbox_ids(aclient, keys) == []
    # a site-wide manager may answer any ticket
    assert (await client.post(url(tid), headers=auth(Role.MANAGER), json=body)).status == 201
    missing = await client.post(url("DG-999999"), headers=auth(Role.MANAGER), json=body)
    assert missing.status == 404


async def test_resolved_ticket_is_not_answered(
        client: Any, auth: Callable[..., dict[str, str]], tickets: Tickets) -> None:
    tid = await tickets.open(chat_message())
    assert (await tickets.work.resolve(tid, "ann", privileged=False)).outcome == "ok"
    resp = await client.post(url(tid), headers=auth(Role.AGENT, "ann"), json={"text": "hi"})
    assert resp.status in (403, 409)


async def test_bad_bodies(client: Any, auth: Callable[..., dict[str, str]],
                          tickets: Tickets, aclient: aioredis.Redis, keys: Keys,
                          data_dir: Path) -> None:
    tid = await tickets.open(chat_message(Channel.WHATSAPP, "8613800000000"))
    h = auth(Role.AGENT, "ann")
    cases = [({}, 422), ({"text": "x" * 20_001}, 422), ({"text": "a", "extra": 1}, 422),
             ({"text": "a", "attachments": [{"ref": "../../etc/passwd", "name": "p"}]}, 422),
             ({"text": "a", "attachments": [{"ref": "sha256:" + "0" * 64, "name": "p"}]}, 422)]
    for body, status in cases:
        resp = await client.post(url(tid), headers=h, json=body)
        assert resp.status == status, (body, await resp.text())
        assert "error" in await resp.json()
    bad = await client.post(url(tid), headers=h, data=b"{not json")
    assert bad.status == 400
    async def upload(ticket: str, data: bytes, name: str = "f.pdf") -> str:
        resp = await client.post(f"{url(ticket)[:-len('/replies')]}/files?name={name}",
                                 headers=h, data=data)
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["ref"])

    one, two = await upload(tid, b"%PDF-1 invoice"), await upload(tid, b"%PDF-1 label")
    # a stored file this ticket never had is refused, though its ref (a hash) is valid
    stranger = BlobStore(data_dir).put(b"another customer's passport scan")
    other_tid = await tickets.open(chat_message(Channel.WHATSAPP, "8613900000000"))
    theirs = await upload(other_tid, b"%PDF-1 the other ticket's file")
    for ref in (stranger, theirs):
        refused = await client.post(url(tid), headers=h, json={"text": "a", "attachments": [
            {"ref": ref, "name": "x.pdf"}]})
        assert refused.status == 422
        assert "not a file of this ticket" in (await refused.json())["error"]["message"]
    no_name = await client.post(f"{url(tid)[:-len('/replies')]}/files", headers=h, data=b"x")
    assert no_name.status == 422
    # WhatsApp takes documents of the types it lists: an untyped file is refused now, saying
    # what it takes, rather than failing at the provider after the text went
    untyped = await client.post(url(tid), headers=h, json={"text": "a", "attachments": [
        {"ref": one, "name": "a.pdf", "content_type": "application/pdf"},
        {"ref": two, "name": "b.pdf"}]})
    why = (await untyped.json())["error"]["message"]
    assert untyped.status == 422 and "cannot send b.pdf: it is application/octet-stream" in why
    assert "document (" in why and "100 MB" in why
    ok = await client.post(url(tid), headers=h, json={"text": "发票", "attachments": [
        {"ref": one, "name": "发票.pdf", "content_type": "application/pdf"}]})
    assert ok.status == 201
    [att] = (await ok.json())["attachments"]
    assert att["size"] == len(b"%PDF-1 invoice") and att["ref"] == one
    assert hashlib.sha256(b"%PDF-1 invoice").hexdigest() in one
    assert len(await outbox_ids(aclient, keys)) == 1


async def test_customer_without_address_gets_a_clear_refusal(
        client: Any, auth: Callable[..., dict[str, str]], tickets: Tickets) -> None:
    m = msgspec.structs.replace(chat_message(Channel.API),
                                sender=Sender((Identity(IdentityKind.EXTERNAL, "crm-77"),)))
    tid = await tickets.open(m)
    resp = await client.post(url(tid), headers=auth(Role.AGENT, "ann"), json={"text": "hi"})
    assert resp.status == 409 and "note" in (await resp.json())["error"]["message"]


async def test_closed_window_is_reported(client: Any, auth: Callable[..., dict[str, str]],
                                         tickets: Tickets) -> None:
    old = chat_message(Channel.WHATSAPP, "8613900000000", at=time.time() - 25 * 3600)
    tid = await tickets.open(old)
    body = await (await client.get(url(tid), headers=auth(Role.AGENT, "ann"))).json()
    assert body["window_open"] is False and body["window_closes_at"]
