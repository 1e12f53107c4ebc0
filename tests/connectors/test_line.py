"""LINE Messaging API webhooks over real HTTP: X-Line-Signature checked (base64 HMAC-SHA256 of
the body with the channel secret), events into the ingest stream with the reply token kept,
a redelivery stored once."""

from __future__ import annotations

import json

from deskgate.connectors.line import signature
from deskgate.models.enums import MessageKind

SECRET = "8c570fa6dd201bb328f1c1eac23a96d8"
USER = "U4af4980629a1b2c3d4e5f60718293a4b"


async def test_events_are_ingested_with_the_reply_token(hook_client, payload, ingested) -> None:
    client = await hook_client({"line": {"oa": {"channel_secret": SECRET, "skill": "shop"}}})
    body = payload("line", "webhook.json")
    headers = {"X-Line-Signature": signature(SECRET, body),
               "Content-Type": "application/json"}
    resp = await client.post("/webhooks/line/oa", data=body, headers=headers)
    assert resp.status == 200
    text, image, follow = ingested()
    assert text.channel == "line" and text.external_id == "468789577898262530"
    assert text.text == "訂單 A20241201 還沒到，請幫忙查詢 / where is my order?"
    assert text.sender.identities[0].value == f"line:oa:{USER}"
    assert text.thread_key == USER and text.skill_hint == "shop"
    assert text.meta["reply_token"] == "38ef843bde154d9b91c21320ffd17a0f"
    assert text.received_at.timestamp() == 1692251666.727
    assert image.attachments[0].ref == "line-content:468789577898262531"
    assert follow.kind == MessageKind.EVENT and follow.external_id == "01H810YECXQQZ37VAXPF6H9E6V"
    # LINE redelivers with isRedelivery true: the same ids, so nothing new is stored
    again = json.loads(body)
    for e in again["events"]:
        e["deliveryContext"]["isRedelivery"] = True
    raw = json.dumps(again).encode()
    resp = await client.post("/webhooks/line/oa", data=raw,
                             headers={"X-Line-Signature": signature(SECRET, raw)})
    assert resp.status == 200
    assert len(ingested()) == 3


async def test_signature_is_required_and_checked(hook_client, payload, ingested,
                                                 rejected) -> None:
    client = await hook_client({"line": {"oa": {"channel_secret": SECRET}}})
    body = payload("line", "webhook.json")
    assert (await client.post("/webhooks/line/oa", data=body)).status == 401
    wrong = signature("0" * 32, body)
    assert (await client.post("/webhooks/line/oa", data=body,
                              headers={"X-Line-Signature": wrong})).status == 403
    tampered = body.replace(b"A20241201", b"A20241202")
    assert (await client.post("/webhooks/line/oa", data=tampered, headers={
        "X-Line-Signature": signature(SECRET, body)})).status == 403
    assert ingested() == []
    assert await rejected(client, "line", "bad_signature") == 2


async def test_console_verify_and_bad_bodies(hook_client, ingested) -> None:
    client = await hook_client({"line": {"oa": {"channel_secret": SECRET}}})
    verify = b'{"destination":"U0123","events":[]}'
    resp = await client.post("/webhooks/line/oa", data=verify,
                             headers={"X-Line-Signature": signature(SECRET, verify)})
    assert resp.status == 200 and ingested() == []
    for bad in (b"{", b'{"events": "x"}', b'{"events": [{"no": "type"}]}'):
        resp = await client.post("/webhooks/line/oa", data=bad,
                                 headers={"X-Line-Signature": signature(SECRET, bad)})
        assert resp.status == 400, bad
